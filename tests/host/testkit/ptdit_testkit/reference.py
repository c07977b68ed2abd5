"""Runs the pack's sampler on a golden fixture's noise and text through ComfyUI's own sampling path
and reports the error against the official output."""
import json

import torch
from safetensors.torch import load_file

from .kit import OutputNode, pack_module, ui_json


class PTDiTTestReferenceSampling(OutputNode):
    """``fixture``: a golden ``.safetensors`` (with its ``.json`` sidecar); reports
    ``{"max_abs_error", "max_abs_output"}`` and returns the sampled LATENT."""

    REQUIRED = {"model": ("MODEL",), "fixture": ("STRING", {"default": ""})}
    RETURN_TYPES = ("LATENT",)

    def run(self, model, fixture):
        samplers = pack_module("nodes.samplers")
        latents = pack_module("nodes.comfy_model")
        t = load_file(fixture)
        with open(fixture[: -len(".safetensors")] + ".json") as f:
            sidecar = json.load(f)
        request, sampler = sidecar["request"], sidecar["sampler"]
        ctx, mask = t["input.encoder_hidden_states"], t["input.encoder_attention_mask"]
        positive = [[ctx[:1], {"attention_mask": mask[:1]}]]
        negative = [[ctx[1:], {"attention_mask": mask[1:]}]]
        noise = t["input.z"][:, :, 0]
        out = samplers.run_sampler(model, positive, negative, torch.zeros_like(noise), seed=0,
                                   steps=sampler["num_inference_steps"], cfg=sampler["cfg_scale"],
                                   sampler_name="euler", scheduler=samplers.OFFICIAL_SCHEDULER,
                                   height=request["height"], width=request["width"],
                                   frames=request["num_frames"], noise=noise)
        # ComfyUI LATENTs are unscaled VAE latents; the transformer works on latents x 0.18215.
        internal = out * latents.PTDiTLatentFormat.scale_factor
        error = (internal - t["output"][:, :, 0]).abs().max().item()
        report = {"max_abs_error": error, "max_abs_output": t["output"].abs().max().item()}
        return {**ui_json(report), "result": ({"samples": out},)}
