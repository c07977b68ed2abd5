"""Input embeddings: patches, 3-D sin-cos positions, timesteps (adaLN-single) and captions."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(N,) float64 positions -> (N, dim) table: all sines, then all cosines (float64)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_3d(dim: int, grid: tuple[int, int, int], sample_size: int) -> torch.Tensor:
    """Positional table of the official model, shape (F, H*W, dim), float32.

    Channels: dim/4 temporal (frame index), then 3dim/8 for ``a`` and 3dim/8 for ``b`` where, for
    raster index k = h*W + w, a = (k mod H)/s and b = floor(k/H)/s with s = max(sample_size//64, 1).
    For square grids a = column and b = row; for non-square grids this reproduces the official
    mesh, which is built with the grid sizes swapped (see docs/architecture.md).
    """
    frames, rows, cols = grid
    scale = max(sample_size // 64, 1)
    k = torch.arange(rows * cols, dtype=torch.float64)
    a = torch.remainder(k, rows) / scale
    b = torch.div(k, rows, rounding_mode="floor") / scale
    spatial = torch.cat([sincos_1d(dim * 3 // 8, a), sincos_1d(dim * 3 // 8, b)], dim=1)
    temporal = sincos_1d(dim // 4, torch.arange(frames, dtype=torch.float64))
    table = torch.cat([temporal[:, None, :].expand(frames, rows * cols, -1),
                       spatial[None].expand(frames, -1, -1)], dim=2)
    return table.to(torch.float32)


class PatchEmbed(nn.Module):
    """Per-frame Conv2d patchifier. (B, C, F, H*p, W*p) -> (B, F, H, W, D).

    Holds ``pos_embed`` (1, frame, (sample_size/p)^2, D), the official persistent buffer for the
    native grid; it is used when the grid matches (so a bf16-cast buffer rounds like the official
    model), otherwise — or when it is stored in an 8-bit format — the table is computed for the grid.
    """

    def __init__(self, in_channels: int, dim: int, patch_size: int, sample_size: int, frame: int,
                 dtype=None, device=None, operations=nn):
        super().__init__()
        self.patch_size, self.sample_size, self.frame = patch_size, sample_size, frame
        self.proj = operations.Conv2d(in_channels, dim, patch_size, stride=patch_size, bias=True,
                                      dtype=dtype, device=device)
        side = sample_size // patch_size
        self.native_grid = (frame, side, side)
        self.register_buffer("pos_embed", torch.empty(1, frame, side * side, dim, dtype=dtype, device=device),
                             persistent=True)
        if self.pos_embed.device.type != "meta":
            self.reset_table()

    def reset_table(self, dtype=None, device=None) -> None:
        """(Re)compute the native-grid buffer, e.g. after loading a file that does not store it."""
        table = sincos_3d(self.pos_embed.shape[-1], self.native_grid, self.sample_size)[None]
        self.pos_embed = table.to(dtype=dtype or self.pos_embed.dtype,
                                  device=device or (None if self.pos_embed.is_meta else self.pos_embed.device))

    def positional_table(self, grid: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """(F, H*W, D) float32 table for ``grid`` (frames, rows, columns)."""
        stored = self.pos_embed
        if grid == self.native_grid and not stored.is_meta and stored.element_size() >= 2:
            return stored[0].to(device=device, dtype=torch.float32)
        return sincos_3d(self.pos_embed.shape[-1], grid, self.sample_size).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, F, H*p, W*p) -> (B, F, H, W, D) patch tokens in x.dtype, without positions (the
        caller adds :meth:`positional_table` while it reorders the tokens). The convolution runs
        channels-last, so the result is a view of its output, channels innermost."""
        b, c, f, hp, wp = x.shape
        frames = x.transpose(1, 2).reshape(b * f, c, hp, wp).contiguous(memory_format=torch.channels_last)
        tokens = self.proj(frames).permute(0, 2, 3, 1)  # (B*F, H, W, D)
        return tokens.reshape(b, f, *tokens.shape[1:])


def timestep_sinusoid(t: torch.Tensor, dim: int = 256) -> torch.Tensor:
    """(B,) raw timesteps in [0, 1000] -> (B, dim) float32 [cos | sin] features."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    angles = t.float()[:, None] * torch.exp(exponent)[None, :]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class TimestepEmbedder(nn.Module):
    """256-wide sinusoid -> Linear -> SiLU -> Linear. (B,) -> (B, D)."""

    def __init__(self, dim: int, dtype=None, device=None, operations=nn):
        super().__init__()
        self.linear_1 = operations.Linear(256, dim, dtype=dtype, device=device)
        self.linear_2 = operations.Linear(dim, dim, dtype=dtype, device=device)

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(timestep_sinusoid(t).to(dtype))))


class _TimestepEmbeddings(nn.Module):
    """Name holder so weights load as ``adaln_single.emb.timestep_embedder.*``."""

    def __init__(self, dim: int, dtype=None, device=None, operations=nn):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim, dtype, device, operations)


class AdaLayerNormSingle(nn.Module):
    """PixArt adaLN-single. (B,) timesteps -> (embedded timestep e (B, D), modulation T (B, 6, D))."""

    def __init__(self, dim: int, dtype=None, device=None, operations=nn):
        super().__init__()
        self.emb = _TimestepEmbeddings(dim, dtype, device, operations)
        self.linear = operations.Linear(dim, 6 * dim, dtype=dtype, device=device)

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.emb.timestep_embedder(t, dtype)
        return e, self.linear(F.silu(e)).unflatten(1, (6, -1))


class CaptionProjection(nn.Module):
    """Text features to model width: Linear -> tanh-GELU -> Linear. (B, L, C_text) -> (B, L, D)."""

    def __init__(self, in_features: int, dim: int, dtype=None, device=None, operations=nn):
        super().__init__()
        self.linear_1 = operations.Linear(in_features, dim, dtype=dtype, device=device)
        self.linear_2 = operations.Linear(dim, dim, dtype=dtype, device=device)

    def forward(self, caption: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.gelu(self.linear_1(caption), approximate="tanh"))
