"""PT-DiT declared to ComfyUI the way core declares its own models.

* :class:`PTDiTLatentFormat` — 4-channel latents of the Open-Sora-Plan v1.2 CausalVAE.
* :class:`PTDiTSupportedModel` — a ``supported_models_base.BASE``: flow model, shift/multiplier.
* :class:`PTDiTBaseModel` — a ``model_base.BaseModel`` whose ``extra_conds`` carry text and mask.
* :class:`ComfyPTDiT` — the diffusion model itself: :class:`ptdit.PTDiT` with ComfyUI's
  conventions (sigma-time, CONST prediction sign, velocity channels, per-model window options).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Optional

import torch

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.patcher_extension
import comfy.supported_models_base
from comfy.ldm.modules.attention import optimized_attention

from ..ptdit import PTDiT, PTDiTConfig
from ..ptdit.attention import AttentionFn
from ..ptdit.model import BlockContext, BlockHook, PTDiTBlock
from ..ptdit.flow import BASE_RESOLUTION
from ..ptdit.inputs import check_inputs
from ..ptdit.text.tokens import MAX_TOKENS, pad_text_conditioning, real_token_count
from ..ptdit.vae.config import LATENT_SCALE
from .options import TRANSFORMER_OPTIONS_KEY, WindowOptions


class PTDiTLatentFormat(comfy.latent_formats.LatentFormat):
    """Open-Sora-Plan v1.2 CausalVAE latents (4 channels, scale 0.18215).

    ``PTDiTLatentFormat()`` (what core's model constructor builds) previews with the default factors;
    ``PTDiTLatentFormat(factors, bias)`` is one with the factors fitted to a VAE file
    (:mod:`.previews`). The class attributes are never changed.
    """

    latent_channels = 4
    scale_factor = LATENT_SCALE
    # Default preview factors, fitted once offline to the bundled demo VAE (ptdit.vae.preview,
    # seed 0), so previews show from the first step of a session, before any VAE is loaded.
    latent_rgb_factors = [[-0.0819, -0.0252, 0.0027], [-0.0256, -0.0228, -0.0044],
                          [-0.0868, -0.0495, 0.0216], [0.0585, 0.0194, -0.0161]]
    latent_rgb_factors_bias = [-0.4024, 0.2554, -0.4471]
    taesd_decoder_name = None

    def __init__(self, factors: Optional[list] = None, bias: Optional[list] = None):
        if factors is not None:
            self.latent_rgb_factors = [list(row) for row in factors]
            self.latent_rgb_factors_bias = list(bias)


def require_ptdit(model) -> None:
    """``ValueError`` unless ``model`` (a ModelPatcher) holds a PT-DiT."""
    if not isinstance(getattr(model.model, "diffusion_model", None), ComfyPTDiT):
        raise ValueError("this node needs a PT-DiT MODEL (from the PT-DiT Model Loader), got "
                         f"{type(model.model).__name__}")


def default_shift(height_px: float, width_px: float) -> float:
    """The official resolution shift r = sqrt(H·W / 512²) for a single frame."""
    return math.sqrt(height_px * width_px / BASE_RESOLUTION)


class PTDiTSupportedModel(comfy.supported_models_base.BASE):
    """Declaration used when building a MODEL from a PT-DiT checkpoint (never auto-detected).

    ``ptdit_config`` is :meth:`ptdit.PTDiTConfig.to_dict`; ``source`` names the checkpoint in
    messages. ``model_options`` choose what they choose for core's models: the layer classes
    (``custom_operations``, e.g. a GGUF pack's) and fp8 matrix multiplication (``fp8_optimizations``).
    """

    unet_config = {"image_model": "ptdit"}
    unet_extra_config = {}
    # The released model runs at 1024x1024, whose official shift is 2.0; the PT-DiT samplers
    # set the shift for the actual size, and ModelSamplingSD3 can override it by hand.
    sampling_settings = {"shift": default_shift(1024, 1024), "multiplier": 1000}
    latent_format = PTDiTLatentFormat
    memory_usage_factor = 0.7
    supported_inference_dtypes = [torch.bfloat16, torch.float16, torch.float32]
    vae_key_prefix = ["vae."]
    text_encoder_key_prefix = ["text_encoders."]

    def __init__(self, ptdit_config: dict, source: str, model_options: Optional[dict] = None):
        super().__init__({**self.unet_config, "ptdit_config": ptdit_config})
        model_options = model_options or {}
        self.source = source
        self.custom_operations = model_options.get("custom_operations", self.custom_operations)
        if model_options.get("fp8_optimizations", False):
            self.optimizations["fp8"] = True

    def get_model(self, state_dict, prefix="", device=None):
        return PTDiTBaseModel(self, device=device)


class PTDiTBaseModel(comfy.model_base.BaseModel):
    """Flow-matching BaseModel: text states as ``c_crossattn``, the T5 mask as ``attention_mask``."""

    def __init__(self, model_config: PTDiTSupportedModel, model_type=comfy.model_base.ModelType.FLOW, device=None):
        super().__init__(model_config, model_type, device=device, unet_model=ComfyPTDiT)
        self.ptdit_source = model_config.source  # the checkpoint's name, for messages

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        cross_attn = kwargs.get("cross_attn")
        if cross_attn is not None:
            context, mask = text_conditioning(self, cross_attn, kwargs)
            out["c_crossattn"] = comfy.conds.CONDRegular(context)
            out["attention_mask"] = comfy.conds.CONDRegular(mask)
        return out


def text_conditioning(model: PTDiTBaseModel, cross_attn: torch.Tensor, cond: dict):
    """Check one conditioning entry against the model and bring it to the reference's layout
    (``ptdit.text.tokens.pad_text_conditioning``: 0/1 mask, padded to 200 with masked zeros)."""
    width = model.model_config.unet_config["ptdit_config"]["caption_channels"]
    encoder = cond.get("ptdit_text_encoder") or "the text encoder (e.g. a stock CLIPLoader)"
    if cross_attn.ndim != 3 or cross_attn.shape[-1] != width:
        raise ValueError(f"{model.ptdit_source} expects T5 text states of shape (1, tokens, {width}) (caption_channels="
                         f"{width}, T5-XXL v1.1 for the released model), but {encoder} produced "
                         f"{tuple(cross_attn.shape)}; load t5xxl_fp16.safetensors or the release's text_encoder/")
    context, mask = pad_text_conditioning(cross_attn, cond.get("attention_mask"), MAX_TOKENS)
    tokens = max(real_token_count(mask))
    if tokens > MAX_TOKENS:
        logging.warning("PT-DiT: a prompt has %d T5 tokens; the reference cuts prompts to %d. Put the PT-DiT T5 "
                        "Text Rules node after CLIPLoader (or use the PT-DiT T5 Loader) to match it.", tokens,
                        MAX_TOKENS)
    return context, mask


def comfy_attention(transformer_options: dict) -> AttentionFn:
    """ptdit's attention function, (G, H, S, d) in and out, through ComfyUI's selected attention with the
    call's ``transformer_options``, so that an ``optimized_attention_override`` (set by
    ``ModelPatcher.set_model_optimized_attention``) applies."""

    def attend(q, k, v, bias):
        if bias is not None:
            bias = bias.expand(q.shape[0], -1, q.shape[2], k.shape[2])
        return optimized_attention(q, k, v, q.shape[1], mask=bias, skip_reshape=True, skip_output_reshape=True,
                                   transformer_options=transformer_options)
    return attend


BLOCK_PATCH = "block"  # transformer_options["patches_replace"]["dit"][("block", i)] replaces block i


def run_blocks(transformer_options: dict, blocks: int) -> BlockHook:
    """The ``PTDiT`` block hook of a ComfyUI call: sets ``block_index`` / ``total_blocks`` as core DiTs
    do and runs the ``("block", i)`` replace patches.

    A patch is called as core DiTs call theirs: ``patch(args, {"original_block": run})`` with
    ``args = {"img": x (B, N, D) window-major tokens, "txt": projected caption (B, L, D), "vec":
    adaLN-single modulation (B, 6, D), "block_index": i, "transformer_options": ...}``; ``run(args)``
    runs the block on ``args`` and returns ``{"img": ...}``; the patch returns a dict whose ``"img"`` is
    the block output.
    """
    replace = transformer_options.get("patches_replace", {}).get("dit", {})
    transformer_options["total_blocks"] = blocks

    def run(index: int, block: PTDiTBlock, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        transformer_options["block_index"] = index
        patch = replace.get((BLOCK_PATCH, index))
        if patch is None:
            return block(x, ctx)

        def original(args: dict) -> dict:
            return {"img": block(args["img"], dataclasses.replace(ctx, text=args["txt"], modulation=args["vec"]))}

        args = {"img": x, "txt": ctx.text, "vec": ctx.modulation, "block_index": index,
                "transformer_options": transformer_options}
        return patch(args, {"original_block": original})["img"]

    return run


class ComfyPTDiT(PTDiT):
    """The diffusion model ComfyUI calls: ``forward(x, timesteps, context, attention_mask, transformer_options)``.

    ComfyUI passes t = 1000·sigma (x_t = (1-sigma)·x0 + sigma·noise) and, for a CONST (flow) model,
    expects ``noise - x0``; PT-DiT predicts ``x0 - noise`` in its first ``in_channels`` outputs,
    so the wrapper returns the negated velocity. Window options come from
    ``transformer_options["ptdit"]`` (set by the Proxy Ratio / Window Attention nodes), block
    patches from ``transformer_options["patches_replace"]["dit"][("block", i)]`` (:func:`run_blocks`);
    the forward runs through the ``DIFFUSION_MODEL`` wrappers, as core's DiTs do.
    """

    def __init__(self, ptdit_config: dict, image_model: str = "ptdit", dtype=None, device=None, operations=None,
                 **_ignored):
        super().__init__(PTDiTConfig.from_dict(ptdit_config), dtype=dtype, device=device,
                         operations=operations or torch.nn, init_weights=False)

    def forward(self, x, timesteps, context, attention_mask=None, transformer_options={}, **kwargs):
        wrappers = comfy.patcher_extension.get_all_wrappers(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL,
                                                            transformer_options)
        if wrappers:
            # For a float32 flow model ``x`` is the sampler's own input tensor (BaseModel casts it to
            # the same dtype, which copies nothing), and a wrapper may write its input in place (stock
            # EasyCache adds its cached difference to it): the wrappers get a copy.
            x = x.clone()
        return comfy.patcher_extension.WrapperExecutor.new_class_executor(self._forward, self, wrappers).execute(
            x, timesteps, context, attention_mask, transformer_options, **kwargs)

    def _forward(self, x, timesteps, context, attention_mask=None, transformer_options={}, **kwargs):
        if attention_mask is not None and attention_mask.shape[0] != context.shape[0]:
            attention_mask = attention_mask.repeat(context.shape[0] // attention_mask.shape[0], 1)
        check_inputs(self.config, x, timesteps, context, attention_mask)
        options: WindowOptions = transformer_options.get(TRANSFORMER_OPTIONS_KEY) or WindowOptions()
        p = self.config.patch_size
        grid = (x.shape[2] if x.ndim == 5 else 1, x.shape[-2] // p, x.shape[-1] // p)
        out = super().forward(x, timesteps, context, attention_mask, window=options.resolve(self.config, grid),
                              attention_fn=comfy_attention(transformer_options), compute_dtype=x.dtype,
                              block_hook=run_blocks(transformer_options, len(self.transformer_blocks)))
        return -out[:, : self.config.in_channels].to(x.dtype)
