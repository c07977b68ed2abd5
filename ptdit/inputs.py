"""Input checks for a PT-DiT forward, run where user data enters (ComfyUI's model call).

Kept out of the model's forward so that the hot path does no Python-side checking and a
caller with known-good tensors (training, benchmarks) pays nothing.
"""
from __future__ import annotations

import torch

from .config import PTDiTConfig


def check_inputs(config: PTDiTConfig, x, timestep, context, context_mask=None) -> None:
    """Check one :class:`~ptdit.model.PTDiT` call's inputs against ``config``.

    x (B, C, H, W) or (B, C, F, H, W) float latents; timestep (B,), (1,) or (); context
    (B, L, caption_channels); context_mask (B, L) or None. Raises ``ValueError`` / ``TypeError``
    with a message a user can act on.
    """
    if not isinstance(x, torch.Tensor) or x.ndim not in (4, 5):
        raise ValueError("latents must be a tensor (B, C, H, W) for images or (B, C, F, H, W) for video, "
                         f"got {getattr(x, 'shape', type(x).__name__)}")
    if not x.is_floating_point():
        raise TypeError(f"latents must be a floating-point tensor, got {x.dtype}")
    if x.shape[1] != config.in_channels:
        raise ValueError(f"latents have {x.shape[1]} channels, this model expects {config.in_channels}")
    p = config.patch_size
    if x.shape[-1] % p or x.shape[-2] % p:
        raise ValueError(f"latent height and width must be multiples of the patch size {p}, "
                         f"got {x.shape[-2]}x{x.shape[-1]}")
    b = x.shape[0]
    if not isinstance(timestep, torch.Tensor) or timestep.shape not in ((b,), (1,), ()):
        raise ValueError(f"timestep must be a tensor of shape ({b},) (one per sample), "
                         f"got {getattr(timestep, 'shape', type(timestep).__name__)}")
    # A NaN check reads the value back; only do it where that costs no device synchronisation and
    # outside torch.compile (a data-dependent branch would split the graph).
    if timestep.device.type == "cpu" and not torch.compiler.is_compiling() \
            and not torch.isfinite(timestep.float()).all():
        raise ValueError(f"timestep contains NaN or infinite values: {timestep.tolist()}")
    if not isinstance(context, torch.Tensor) or context.ndim != 3 or context.shape[0] != b \
            or context.shape[2] != config.caption_channels:
        raise ValueError(f"text embeddings must be (B={b}, L, {config.caption_channels}), "
                         f"got {getattr(context, 'shape', type(context).__name__)}")
    if context_mask is not None and tuple(context_mask.shape) != tuple(context.shape[:2]):
        raise ValueError(f"text mask must be (B, L) = {tuple(context.shape[:2])}, got {tuple(context_mask.shape)}")
