"""Tiny random PT-DiT models and inputs for fast unit tests."""
from __future__ import annotations

import torch

from ptdit import PTDiT, PTDiTConfig

TINY = PTDiTConfig(num_heads=2, head_dim=16, num_layers=2, caption_channels=24, compress_ratios=(1, 4, 4),
                   proxy_ratios=(1, 4, 4), sample_size=32)


def tiny_model(seed: int = 0, **overrides) -> PTDiT:
    torch.manual_seed(seed)
    config = PTDiTConfig(**{**TINY.to_dict(), **overrides}) if overrides else TINY
    return PTDiT(config).eval()


def tiny_inputs(batch: int = 2, frames: int | None = None, height: int = 32, width: int = 32,
                text_len: int = 7, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, 4, height, width) if frames is None else (batch, 4, frames, height, width)
    x = torch.randn(shape, generator=g)
    t = torch.full((batch,), 500.0)
    ctx = torch.randn(batch, text_len, 24, generator=g)
    mask = torch.ones(batch, text_len, dtype=torch.long)
    mask[-1, -2:] = 0
    return x, t, ctx, mask
