"""Cost model of PT-DiT: the paper's attention-complexity ratio and self-attention FLOPs.

Paper formula (token-interaction cost of attention relative to full self-attention over the same
N tokens): with M proxy tokens and n tokens per window,

    ratio = (M² + N·M + 2·N·n) / N²

M² is proxy self-attention, N·M the proxy-to-visual injection, 2·N·n window plus shifted-window
attention; full self-attention costs N². With one proxy per window of c tokens this is
1/c² + 1/c + 2c/N, e.g. 34.375 % / 9.77 % / 4.71 % at 256 / 512 / 1024 px with windows
(1,2,2) / (1,4,4) / (1,8,8) — the paper prints these truncated as 34.3 / 9.7 / 4.7 %.
"""
from __future__ import annotations

from typing import Optional

from .config import PTDiTConfig, WindowSettings
from .vae.config import SPATIAL_FACTOR

PATCH = PTDiTConfig().patch_size
"""Patch edge in latents of the released checkpoint."""
SIZE_STEP = SPATIAL_FACTOR * PATCH
"""Pixels per token along H and W (16): image sizes are multiples of it."""


def _geometry(grid: tuple[int, int, int], window: WindowSettings) -> tuple[int, int, int]:
    """(N padded tokens, M proxy tokens, n tokens per window) for one sample."""
    padded = window.padded(grid)
    n = window.window_tokens
    tokens = padded[0] * padded[1] * padded[2]
    sh, sw = window.proxies_per_window
    return tokens, tokens // n * sh * sw, n


def _interactions(grid: tuple[int, int, int], window: Optional[WindowSettings]) -> int:
    """Query-key pairs one block's self-attention scores: M² + N·M + N·n per local attention
    (PT-DiT), or N² for full self-attention (``window`` None)."""
    if window is None:
        return (grid[0] * grid[1] * grid[2]) ** 2
    tokens, proxies, n = _geometry(grid, window)
    local = tokens * n * (int(window.window_attention) + int(window.shift_window))
    return proxies ** 2 + tokens * proxies + local


def attention_ratio(grid: tuple[int, int, int], window: WindowSettings) -> float:
    """Paper formula: PT-DiT attention interaction cost / full self-attention cost (0..1+)."""
    return _interactions(grid, window) / _interactions(grid, None)


def self_attention_flops(grid: tuple[int, int, int], dim: int, layers: int,
                         window: Optional[WindowSettings] = None) -> int:
    """FLOPs of the token-token products (scores q·k and the weighted sum of v, 2 FLOPs per
    multiply-add) of ``layers`` blocks' self-attention over a token grid (F, H, W) at width ``dim``:
    PT-DiT's with ``window``, full self-attention (a PixArt-style DiT) with None. Projections and the
    text cross-attention are not counted (the same in both)."""
    return 4 * dim * layers * _interactions(grid, window)


def latent_grid(height_px: int, width_px: int, frames: int = 1, vae_factor: int = SPATIAL_FACTOR,
                patch: int = PATCH) -> tuple[int, int, int]:
    """Token grid (F, H, W) for an image/video size in pixels (frames = latent frames)."""
    return frames, height_px // vae_factor // patch, width_px // vae_factor // patch
