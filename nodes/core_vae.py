"""A ``comfy.sd.VAE`` for a causal video autoencoder that core cannot detect from its weights.

Core's constructor first sets every attribute its methods read (each release adds some, e.g.
``format_encoded`` and ``handles_tiling`` in 0.33), then picks a model by the state-dict keys and,
finding none it knows, stops. :class:`CausalVideoVAE` lets it run that far, declares the model the
way core's own branches declare theirs (compression, memory estimates, working dtypes) and
finishes as core's constructor does: device, dtype, output device and the patcher core would pick.

This file imports ComfyUI only, so that the test kit's probe VAE can load it by path.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Sequence

import torch
from torch import nn

import comfy.model_management as mm
import comfy.model_patcher
import comfy.sd

NO_WEIGHTS_WARNING = "No VAE weights detected"  # core's warning for a state dict it cannot place

MemoryEstimate = Callable[[tuple, torch.dtype], float]


class _SkipNoWeightsWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return NO_WEIGHTS_WARNING not in record.getMessage()


class CausalVideoVAE(comfy.sd.VAE):
    """``first_stage_model`` maps (B, 3, T, H, W) pixels in [-1, 1] to (B, C, 1 + (T-1)/k, H/s, W/s)
    latents (``encode``) and back (``decode``); k = ``temporal``, s = ``spatial``."""

    def __init__(self, first_stage_model: nn.Module, *, latent_channels: int, temporal: int, spatial: int,
                 memory_used_encode: MemoryEstimate, memory_used_decode: MemoryEstimate,
                 working_dtypes: Sequence[torch.dtype] = (torch.bfloat16, torch.float32)):
        quiet = _SkipNoWeightsWarning()
        logging.getLogger().addFilter(quiet)  # expected here: the model is not core's to build
        try:
            super().__init__(sd={})
        finally:
            logging.getLogger().removeFilter(quiet)
        k, s = temporal, spatial
        self.latent_channels = latent_channels
        self.latent_dim = 3
        self.upscale_ratio = (lambda t: max(0, t * k - (k - 1)), s, s)
        self.upscale_index_formula = (k, s, s)
        self.downscale_ratio = (lambda t: max(0, math.floor((t + k - 1) / k)), s, s)
        self.downscale_index_formula = (k, s, s)
        self.memory_used_encode = memory_used_encode
        self.memory_used_decode = memory_used_decode
        self.working_dtypes = list(working_dtypes)
        self.first_stage_model = first_stage_model.eval()
        self._finish_like_core()

    def _finish_like_core(self) -> None:
        """The end of ``comfy.sd.VAE.__init__``, with the functions core calls there."""
        self.device = mm.vae_device()
        self.vae_dtype = mm.vae_dtype(self.device, self.working_dtypes)
        self.first_stage_model.to(self.vae_dtype)
        archive_dtypes = getattr(mm, "archive_model_dtypes", None)  # 0.33+: read by the dynamic patcher
        if archive_dtypes is not None:
            archive_dtypes(self.first_stage_model)
        self.output_device = mm.intermediate_device()
        patcher = comfy.model_patcher.ModelPatcher
        if not self.disable_offload:  # 0.33+: CoreModelPatcher, the dynamic-VRAM patcher when enabled
            patcher = getattr(comfy.model_patcher, "CoreModelPatcher", patcher)
        self.patcher = patcher(self.first_stage_model, load_device=self.device,
                               offload_device=mm.vae_offload_device())
        self.model_size()
