"""Runs a golden forward fixture through the MODEL the PT-DiT Model Loader built, as ComfyUI's samplers
call it (``BaseModel.apply_model`` with the conditioning of its ``extra_conds``), and reports the error
against the official output."""
import torch
from safetensors.torch import load_file

from .kit import OutputNode, pack_module, ui_json


class PTDiTTestReferenceForward(OutputNode):
    """``fixture``: a golden forward ``.safetensors``; reports ``{"max_abs_error", "max_abs_output",
    "weight_dtype", "compute_dtype"}`` for the velocity channels (the official output's first
    ``in_channels``)."""

    REQUIRED = {"model": ("MODEL",), "fixture": ("STRING", {"default": ""})}

    def run(self, model, fixture):
        options = pack_module("nodes.options")
        t = load_file(fixture)
        base = model.model
        x, context, mask = t["input.hidden_states"], t["input.encoder_hidden_states"], t["input.encoder_attention_mask"]
        if x.shape[2] == 1:
            x = x[:, :, 0]  # an image latent, as ComfyUI passes it
        compute = base.manual_cast_dtype or base.get_dtype()
        sigma = t["input.timestep"] / 1000
        conds = {k: v.process_cond(x.shape[0]).cond for k, v in
                 base.extra_conds(cross_attn=context, attention_mask=mask).items()}
        with torch.no_grad():
            denoised = base.apply_model(x, sigma, transformer_options={"ptdit": options.WindowOptions()}, **conds)
        velocity = (denoised.float() - x) / sigma.view(-1, *[1] * (x.ndim - 1))  # CONST: x - sigma * (-v)
        want = t["output"][:, : x.shape[1]]
        want = want[:, :, 0] if x.ndim == 4 else want
        report = {"max_abs_error": (velocity - want).abs().max().item(), "max_abs_output": want.abs().max().item(),
                  "weight_dtype": str(base.get_dtype()), "compute_dtype": str(compute)}
        return ui_json(report)
