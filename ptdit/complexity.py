"""Cost model of PT-DiT: the paper's attention-complexity ratio and an exact multiply-add count.

Paper formula (token-interaction cost of attention relative to full self-attention over the same
N tokens): with M proxy tokens and n tokens per window,

    ratio = (M² + N·M + 2·N·n) / N²

M² is proxy self-attention, N·M the proxy→visual injection, 2·N·n window plus shifted-window
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


def forward_macs(config: PTDiTConfig, latent_shape: tuple[int, ...], text_len: int,
                 window: Optional[WindowSettings] = None) -> dict[str, int]:
    """Exact multiply-adds of one :class:`PTDiT` forward, split by component.

    ``latent_shape`` is (B, C, H, W) or (B, C, F, H, W). Counts every matrix-matrix product (linear
    layers, attention scores and weighted sums, the patch convolution); element-wise work (norms,
    modulation, softmax, GELU) is not counted. ``text_len`` is the number of text tokens the model
    attends to: all of them when recording a graph or under torch.compile, otherwise those valid in
    some sample (:func:`ptdit.model.drop_masked_text`).
    """
    window = window or config.default_window()
    b = latent_shape[0]
    frames = latent_shape[2] if len(latent_shape) == 5 else 1
    p, d, c_in = config.patch_size, config.hidden_size, config.in_channels
    grid = (frames, latent_shape[-2] // p, latent_shape[-1] // p)
    tokens, proxies, n = _geometry(grid, window)
    real = grid[0] * grid[1] * grid[2]
    length = text_len

    block = {
        "proxy_self_attention": 4 * proxies * d * d + 2 * proxies * proxies * d,
        "proxy_to_visual": 3 * tokens * d * d + 2 * proxies * d * d + 2 * tokens * proxies * d,
        "window_attention": (4 * tokens * d * d + 2 * tokens * n * d) if window.window_attention else 0,
        "shifted_window_attention": (5 * tokens * d * d + 2 * tokens * n * d) if window.shift_window else 0,
        "text_cross_attention": 2 * tokens * d * d + 2 * length * d * d + 2 * tokens * length * d,
        "feed_forward": 8 * tokens * d * d,
    }
    macs = {name: b * config.num_layers * value for name, value in block.items()}
    macs["patch_embed"] = b * real * d * c_in * p * p
    macs["timestep_and_modulation"] = b * (256 * d + d * d + 6 * d * d)
    macs["caption_projection"] = b * length * (config.caption_channels * d + d * d)
    macs["final_projection"] = b * tokens * d * p * p * config.out_channels
    return macs
