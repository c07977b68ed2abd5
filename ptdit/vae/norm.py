"""GroupNorm that can share its statistics between the tiles of a tiled encode/decode.

Every GroupNorm of the VAE is applied through :func:`group_norm`. Normally that is just the
module's forward. Inside :func:`sharing_norm_stats`, each call instead

* adds the sums of its input over the current tile's *core* region (the part of the tile that no
  other tile owns) to a pool, so that after all tiles the pool holds whole-input statistics, and
* normalises with statistics pooled in an earlier pass (or the tile's own statistics).

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


class StatsCollected(Exception):
    """Raised by :class:`SharedNormStats` to abandon a tile once the wanted statistics are pooled."""


class SharedNormStats:
    """Pools GroupNorm input sums over tile cores and normalises with known statistics.

    The i-th GroupNorm call of a tile normalises with ``previous[i]`` when given (else with the
    tile's own statistics) and, from call ``collect_from`` on, adds its core sums to the pool.
    With ``stop_after`` = i, call i raises :class:`StatsCollected` once it has been pooled.
    """

    def __init__(self, previous: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                 collect_from: int | None = 0, stop_after: int | None = None):
        self.previous = previous or []
        self.collect_from = collect_from
        self.stop_after = stop_after
        self._sums: list[list[torch.Tensor]] = []
        self._region: TileRegion | None = None
        self._index = 0

    def begin_tile(self, region: TileRegion) -> None:
        self._region = region
        self._index = 0

    def pooled(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(mean, var)`` per pooled call, float64, shape (B, G) or (B, T, G) for frame-wise norms."""
        stats = []
        for total, total_sq, count in self._sums:
            mean = total / count
            stats.append((mean, (total_sq / count - mean * mean).clamp_min(0)))
        return stats

    def stats(self, norm: torch.nn.GroupNorm, x: torch.Tensor, frames: int | None):
        """Pool this call's core sums; return the ``(mean, var)`` to use, (N, G), or None for own."""
        index, self._index = self._index, self._index + 1
        core, core_start, frame_offset, total_frames = self._core(x, frames)
        if self.collect_from is not None and index >= self.collect_from:
            self._accumulate(index - self.collect_from, core, norm.num_groups, frames,
                             frame_offset + core_start, total_frames)
        if index == self.stop_after:
            raise StatsCollected
        if index >= len(self.previous):
            return None
        mean, var = self.previous[index]
        if frames is not None:  # frame-wise: (B, T_total, G) -> this tile's frames, folded into N
            mean = mean[:, frame_offset:frame_offset + frames].flatten(0, 1)
            var = var[:, frame_offset:frame_offset + frames].flatten(0, 1)
        return mean, var

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
        core = core.detach()  # statistics are constants; never keep autograd graphs of earlier tiles
        channel_dim = 1 if frames is None else 2  # (B, C, t, h, w) or (B, t, C, h, w)
        dims = tuple(d for d in range(core.ndim) if d > channel_dim)
        # Per-channel mean and variance (accurate even when |mean| >> std), read from the strided
        # core without copies; pooled as sum(n * mean) and sum(n * (var + mean^2)) in float64.
        var, mean = torch.var_mean(core, dim=dims, correction=0)
        per_channel = (core[0, 0] if frames is None else core[0, 0, 0]).numel()
        mean, var = mean.double(), var.double()
        total, total_sq = (s.unflatten(-1, (groups, -1)).sum(-1) * per_channel for s in (mean, var + mean * mean))
        count = torch.full_like(total, per_channel * core.shape[channel_dim] // groups)
        if frames is not None:  # place this tile's core frames at their clip position
            pad = (0, 0, frame_offset, total_frames - frame_offset - total.shape[1])
            total, total_sq, count = (torch.nn.functional.pad(s, pad) for s in (total, total_sq, count))
        if index == len(self._sums):
            self._sums.append([total, total_sq, count])
        else:
            for pooled, part in zip(self._sums[index], (total, total_sq, count)):
                pooled += part


def group_norm(norm: torch.nn.GroupNorm, x: torch.Tensor, frames: int | None = None,
               time_pad: int = 0) -> torch.Tensor:
    """Apply ``norm`` to x: (B, C, T, H, W) with clip-wide statistics, or to x: (B*T, C, H, W)
    with per-frame statistics when ``frames`` = T is given. Shares statistics while tiling.

    ``time_pad`` > 0 returns (B, C, time_pad + T, H, W) with copies of the normalised frame 0 in
    front, the causal padding of a following conv, written in place (no second full-size copy).
    """
    shared = _ACTIVE.get()
    stats = shared.stats(norm, x, frames) if shared is not None else None
    if stats is None and not time_pad:
        return norm(x)
    if stats is None:
        var, mean = torch.var_mean(x.reshape(x.shape[0], norm.num_groups, -1), dim=-1, correction=0)
        stats = mean.double(), var.double()
    out = x.new_empty(x.shape[:2] + (time_pad + x.shape[2],) + x.shape[3:])
    _normalize_into(out.narrow(2, time_pad, x.shape[2]), x, norm, *stats)
    if time_pad:
        out[:, :, :time_pad] = out[:, :, time_pad:time_pad + 1]
    return out


@contextlib.contextmanager
def sharing_norm_stats(shared: SharedNormStats):
    """Route every :func:`group_norm` call in this context through ``shared``."""
    token = _ACTIVE.set(shared)
    try:
        yield shared
    finally:
        _ACTIVE.reset(token)


def _normalize_into(out: torch.Tensor, x: torch.Tensor, norm, mean: torch.Tensor, var: torch.Tensor) -> None:
    """out = (x - mean) / sqrt(var + eps) * weight + bias; x, out: (N, C, ...), mean/var: (N, G).

    float32/float64 are computed in place in ``out``; half types in float32, a slab of dim 2 at a
    time, so that every output is rounded once.
    """
    per_channel = x.shape[1] // norm.num_groups
    shape = x.shape[:2] + (1,) * (x.ndim - 2)
    scale = torch.rsqrt(var + norm.eps).repeat_interleave(per_channel, dim=1)
    mean = mean.repeat_interleave(per_channel, dim=1)
    shift = torch.zeros_like(mean)
    if norm.weight is not None:
        scale = scale * norm.weight.detach().double().to(scale.device)
        shift = shift + norm.bias.detach().double().to(scale.device)
    compute = x.dtype if x.element_size() >= 4 else torch.float32
    mean, scale, shift = (t.to(compute).view(shape) for t in (mean, scale, shift))
    if compute == x.dtype:
        out.copy_(x).sub_(mean).mul_(scale).add_(shift)
        return
    slab = max(1, x.shape[2] // 8)
    for source, target in zip(x.split(slab, dim=2), out.split(slab, dim=2)):
        target.copy_((source.to(compute) - mean).mul_(scale).add_(shift))


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
