"""GroupNorm that can share its statistics between the tiles of a tiled encode/decode.

Every GroupNorm of the VAE is applied through :func:`group_norm`. Normally that is just the
module's forward. Inside :func:`sharing_norm_stats`, each call instead

* adds the sums of its input over the current tile's *core* region (the part of the tile that no
  other tile owns) to a pool, so that after all tiles the pool holds clip-wide statistics, and
* normalises with the statistics pooled in the previous pass (or the tile's own statistics in the
  first pass).

Calls are matched between tiles and passes by their order, which is the same for every tile.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass

import torch

_ACTIVE: ContextVar["SharedNormStats | None"] = ContextVar("ptdit_vae_shared_norm", default=None)


@dataclass(frozen=True)
class TileRegion:
    """Where a tile lies in the tiler's input, all as ``(start, stop)`` index pairs.

    ``frames``/``rows``/``cols`` are the global ranges fed to the network; ``core_*`` are the
    sub-ranges (global indices) whose statistics this tile contributes. ``total_frames`` is the
    clip length at the tiler's input.
    """

    frames: tuple[int, int]
    rows: tuple[int, int]
    cols: tuple[int, int]
    core_frames: tuple[int, int]
    core_rows: tuple[int, int]
    core_cols: tuple[int, int]
    total_frames: int


class SharedNormStats:
    """Pools GroupNorm sums over tile cores; ``previous`` are the statistics to normalise with."""

    def __init__(self, previous: list[tuple[torch.Tensor, torch.Tensor]] | None = None, collect: bool = True):
        self.previous = previous
        self.collect = collect
        self._sums: list[list[torch.Tensor]] = []
        self._region: TileRegion | None = None
        self._index = 0

    def begin_tile(self, region: TileRegion) -> None:
        self._region = region
        self._index = 0

    def pooled(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(mean, var)`` per GroupNorm call, float64, shape (B, G) or (B, T, G) for frame-wise norms."""
        stats = []
        for total, total_sq, count in self._sums:
            mean = total / count
            stats.append((mean, (total_sq / count - mean * mean).clamp_min(0)))
        return stats

    def normalize(self, norm: torch.nn.GroupNorm, x: torch.Tensor, frames: int | None) -> torch.Tensor:
        index, self._index = self._index, self._index + 1
        groups = norm.num_groups
        core, core_start, frame_offset, total_frames = self._core(x, frames)
        if self.collect:
            self._accumulate(index, core, groups, frames, frame_offset + core_start, total_frames)
        if self.previous is None:
            return norm(x)
        mean, var = self.previous[index]
        if frames is not None:  # frame-wise: (B, T_total, G) -> this tile's frames, folded into N
            mean = mean[:, frame_offset:frame_offset + frames].flatten(0, 1)
            var = var[:, frame_offset:frame_offset + frames].flatten(0, 1)
        return _normalize_with(norm, x, mean, var)

    def _core(self, x: torch.Tensor, frames: int | None):
        """Slice of ``x`` that belongs to the tile's core at ``x``'s resolution.

        Also returns, at ``x``'s frame rate, the core's first local frame, the clip index of the
        tile's first frame and the clip length.
        """
        r = self._region
        height, width = x.shape[-2:]
        rows = _scale_range(r.core_rows, r.rows, height)
        cols = _scale_range(r.core_cols, r.cols, width)
        in_frames = r.frames[1] - r.frames[0]
        cur_frames = frames if frames is not None else x.shape[2]
        local = (r.core_frames[0] - r.frames[0], r.core_frames[1] - r.frames[0])
        t0, t1 = (causal_frame_index(t, in_frames, cur_frames) for t in local)
        offset = causal_frame_index(r.frames[0] + 1, in_frames, cur_frames) - 1 if r.frames[0] else 0
        total = causal_frame_index(r.total_frames, in_frames, cur_frames)
        if frames is None:
            core = x[:, :, t0:t1, rows[0]:rows[1], cols[0]:cols[1]]
        else:
            core = x.unflatten(0, (-1, frames))[:, t0:t1, :, rows[0]:rows[1], cols[0]:cols[1]]
        return core, t0, offset, total

    def _accumulate(self, index, core, groups, frames, frame_offset, total_frames) -> None:
        if frames is None:  # (B, C, t, h, w) -> (B, G)
            grouped = core.unflatten(1, (groups, -1)).flatten(2)
        else:  # (B, t, C, h, w) -> (B, t, G)
            grouped = core.unflatten(2, (groups, -1)).flatten(3)
        total = grouped.sum(-1, dtype=torch.float64)
        total_sq = grouped.square().sum(-1, dtype=torch.float64)
        count = torch.full_like(total, grouped.shape[-1])
        if frames is not None:  # place this tile's core frames at their clip position
            pad = (0, 0, frame_offset, total_frames - frame_offset - total.shape[1])
            total, total_sq, count = (torch.nn.functional.pad(s, pad) for s in (total, total_sq, count))
        if index == len(self._sums):
            self._sums.append([total, total_sq, count])
        else:
            for pooled, part in zip(self._sums[index], (total, total_sq, count)):
                pooled += part


def group_norm(norm: torch.nn.GroupNorm, x: torch.Tensor, frames: int | None = None) -> torch.Tensor:
    """Apply ``norm`` to x: (B, C, T, H, W) with clip-wide statistics, or to x: (B*T, C, H, W)
    with per-frame statistics when ``frames`` = T is given. Shares statistics while tiling."""
    shared = _ACTIVE.get()
    if shared is None:
        return norm(x)
    return shared.normalize(norm, x, frames)


@contextlib.contextmanager
def sharing_norm_stats(shared: SharedNormStats):
    """Route every :func:`group_norm` call in this context through ``shared``."""
    token = _ACTIVE.set(shared)
    try:
        yield shared
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def plain_norm_stats():
    """Suspend any active sharing (for parts of the network that always run untiled)."""
    token = _ACTIVE.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _normalize_with(norm, x, mean, var):
    """(x - mean) / sqrt(var + eps) * weight + bias, with mean/var: (N, G) float64."""
    compute = torch.float32 if x.element_size() < 4 else x.dtype
    rstd = torch.rsqrt(var + norm.eps).to(compute)
    grouped = x.to(compute).unflatten(1, (norm.num_groups, -1))
    shape = grouped.shape[:2] + (1,) * (grouped.ndim - 2)
    y = ((grouped - mean.to(compute).view(shape)) * rstd.view(shape)).flatten(1, 2)
    if norm.weight is not None:
        affine_shape = (1, -1) + (1,) * (x.ndim - 2)
        y = y * norm.weight.to(y).view(affine_shape) + norm.bias.to(y).view(affine_shape)
    return y.to(x.dtype)


def _scale_range(core: tuple[int, int], full: tuple[int, int], size: int) -> tuple[int, int]:
    """Map a global core range of the tiler input onto local indices of a tensor of ``size`` rows."""
    extent = full[1] - full[0]
    return ((core[0] - full[0]) * size // extent, (core[1] - full[0]) * size // extent)


def causal_frame_index(t: int, in_frames: int, cur_frames: int) -> int:
    """Index at ``cur_frames`` resolution of input frame ``t`` of ``in_frames``.

    Causal resampling keeps frame 0 alone and rescales the rest: frames 1... map by the ratio
    (cur_frames - 1) / (in_frames - 1). ``t == in_frames`` maps to ``cur_frames``.
    """
    if t == 0 or in_frames == 1:
        return t
    return (t - 1) * (cur_frames - 1) // (in_frames - 1) + 1
