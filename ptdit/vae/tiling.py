"""Tiled encode/decode for the CausalVAE.

Two schemes (the official one, with visible seams, is :mod:`ptdit.reference.tiling`):

* :func:`exact_tiled` runs the high-resolution part layer by layer over spatial tiles with a
  2-sample halo. Each layer's input and output are kept as bands of tile rows (optionally on
  another device, e.g. CPU RAM) and every GroupNorm uses statistics pooled over all tiles before
  it is applied, so the result equals the untiled one up to float rounding: no seams. The lean
  variant frees input rows as soon as no later tile reads them, so a layer holds about the larger
  of its input and output instead of both.
* :func:`low_memory_tiled` keeps nothing whole: tiles with a wide halo run through all levels,
  normalising with GroupNorm statistics pooled over all tiles in a previous pass, and are
  cross-faded. No visible seams, but a smooth deviation from the untiled result (the pooled
  statistics are estimates); optionally chunks time as well.

Tile functions map (B, C, T, H, W) -> (B, C', T', H', W'). Both schemes take
an optional ``on_tile(done, total)`` callback, called after every tile run of a pass (progress
reports; raising from it stops the call).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from .norm import SharedNormStats, StatsCollected, TileRegion, causal_frame_index, sharing_norm_stats

Run = Callable[[torch.Tensor], torch.Tensor]
TileCallback = Callable[[int, int], None]


def _no_callback(done: int, total: int) -> None:
    return None


# --------------------------------------------------------------------------- exact scheme

@dataclass(frozen=True)
class ExactTiling:
    """Seamless tiling that matches the untiled result. ``tile``: tile edge in latents (scaled to
    each layer's resolution); ``storage_device``: where whole layer inputs/outputs are kept
    (None: the input's device; "cpu" keeps them off the accelerator); ``lean``: free input rows
    during each layer's last pass, and let the decoder fuse its last upsampling into the block
    after it (see ``Decoder.stages``), for about half the memory of whole input + output pairs."""

    tile: int = 32
    storage_device: str | torch.device | None = None
    lean: bool = False

    def __post_init__(self):
        if self.tile < 1:
            raise ValueError(f"invalid tiling settings {self}")


@dataclass(frozen=True)
class Stage:
    """One layer of the tiled part: (B, C, T, H, W) -> (B, C', T', H * up // down, W * up // down).

    Its receptive field must stay within ``STAGE_HALO`` input samples of every output sample.
    """

    run: Run
    up: int = 1
    down: int = 1


STAGE_HALO = 2  # two 3x3 convs at one resolution, interpolation + conv, a stride-2 conv, or 2x
# nearest upsampling + three 3x3 convs at the output resolution (a fused upsampler and block)


class RowBands:
    """A (B, C, T, H, W) tensor kept as bands of rows: ``[(first_row, band), ...]``, in order.

    Rows before a given one can be dropped (:meth:`release_before`) once no later tile reads them.
    """

    def __init__(self, bands: list[tuple[int, torch.Tensor]], height: int):
        self.bands = bands
        self.height = height

    @classmethod
    def of(cls, x: torch.Tensor) -> "RowBands":
        return cls([(0, x)], x.shape[3])

    @property
    def shape(self) -> tuple[int, ...]:
        band = self.bands[0][1]
        return band.shape[:3] + (self.height, band.shape[4])

    @property
    def device(self) -> torch.device:
        return self.bands[0][1].device

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows [start, stop): a view when one band holds them, else a concatenated copy."""
        if start < self.bands[0][0]:
            raise RuntimeError(f"rows from {start} were read after being released")
        parts = [band[:, :, :, max(start - first, 0):stop - first]
                 for first, band in self.bands if first < stop and first + band.shape[3] > start]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=3)

    def whole(self) -> torch.Tensor:
        return self.rows(0, self.height)

    def release_before(self, row: int) -> None:
        """Drop rows before ``row``; a band that straddles it keeps a copy of its remaining rows."""
        kept = []
        for first, band in self.bands:
            if first + band.shape[3] <= row:
                continue
            if first < row:
                first, band = row, band[:, :, :, row - first:].clone()
            kept.append((first, band))
        self.bands = kept


def exact_tiled(x: torch.Tensor, stages: Sequence[Stage], tiling: ExactTiling, edge: int,
                compute_device: torch.device, on_tile: TileCallback | None = None) -> torch.Tensor:
    """Run ``stages`` one after another over tiles of x: (B, C, T, H, W); ``edge``: first tile edge.

    Returns the last stage's output on the storage device. ``on_tile(done, total)``: after every
    tile run, counted per pass (a tiled stage makes one pass per GroupNorm it pools, plus one).
    """
    storage = torch.device(tiling.storage_device) if tiling.storage_device is not None else x.device
    bands = RowBands.of(x.to(storage))
    for stage, stage_edge in stage_edges(stages, edge):
        bands = _exact_stage(bands, stage, stage_edge, compute_device, tiling.lean, on_tile or _no_callback)
    return bands.whole()


def stage_edges(stages: Sequence[Stage], edge: int) -> Iterator[tuple[Stage, int]]:
    """Each stage with the tile edge it runs at (in its input's samples), from a first ``edge``."""
    for stage in stages:
        yield stage, max(edge, stage.down)
        edge = edge * stage.up // stage.down


def stage_regions(size: tuple[int, int, int], stage: Stage, edge: int) -> list[TileRegion]:
    """The tiles of one exact stage over an input of ``size`` = (T, H, W), row by row."""
    frames, height, width = size
    edge = edge // stage.down * stage.down
    halo = -(-STAGE_HALO // stage.down) * stage.down
    return [TileRegion((0, frames), rows, cols, (0, frames), core_rows, core_cols, frames)
            for rows, core_rows in tile_ranges(height, edge, halo)
            for cols, core_cols in tile_ranges(width, edge, halo)]


def _exact_stage(x: RowBands, stage: Stage, edge: int, compute_device, release: bool,
                 on_tile: TileCallback) -> RowBands:
    """One layer over tiles; each GroupNorm's statistics are pooled in a pass that stops there.
    The output holds one band per row of tiles; with ``release``, the last pass frees input rows
    that no later tile reads."""
    regions = stage_regions(x.shape[2:], stage, edge)
    if len(regions) == 1:
        return RowBands.of(stage.run(x.whole().to(compute_device)).to(x.device))
    known: list = []
    while True:
        shared = SharedNormStats(known, collect_from=len(known), stop_after=len(known))
        out: dict[tuple[int, int], torch.Tensor] = {}
        with sharing_norm_stats(shared):
            for done, region in enumerate(regions, 1):
                shared.begin_tile(region)
                try:
                    tile = stage.run(_crop(x, region).to(compute_device))
                except StatsCollected:
                    tile = None
                on_tile(done, len(regions))
                if tile is None:
                    continue
                _place_core(out, tile, region, stage, x)
                if release:  # the layer runs to its end in this pass: later tiles start lower
                    x.release_before(regions[done].rows[0] if done < len(regions) else x.height)
        if out:  # the layer ran to the end: no GroupNorm left to pool
            return RowBands([(stage.up * start // stage.down, band) for (start, _), band in out.items()],
                            x.height * stage.up // stage.down)
        known = known + shared.pooled()


def _place_core(out: dict, tile: torch.Tensor, region: TileRegion, stage: Stage, x: RowBands) -> None:
    """Copy the tile's core into its row band ``out[core_rows]`` (allocated on ``x``'s device)."""
    (r0, _), (c0, _) = region.rows, region.cols
    (cr0, cr1), (cc0, cc1) = region.core_rows, region.core_cols

    def scale(i):
        return i * stage.up // stage.down

    if region.core_rows not in out:
        width = x.shape[4] * stage.up // stage.down
        out[region.core_rows] = torch.empty(tile.shape[:3] + (scale(cr1) - scale(cr0), width),
                                            dtype=tile.dtype, device=x.device)
    core = tile[..., scale(cr0) - scale(r0):scale(cr1) - scale(r0), scale(cc0) - scale(c0):scale(cc1) - scale(c0)]
    out[region.core_rows][..., scale(cc0):scale(cc1)] = core.to(x.device)


# --------------------------------------------------------------------------- low-memory scheme

@dataclass(frozen=True)
class LowMemoryTiling:
    """Bounded-memory tiling settings, in latent units for both directions (1 latent = 8 px,
    1 latent frame = 4 pixel frames for the released VAE).

    ``tile``: core edge of a tile; ``halo``: extra context on every side (at most the halo is
    wasted work per side); ``blend``: half-width of the linear cross-fade centred on each core
    boundary (at most ``halo``); ``frames``: core latent frames per temporal chunk (0: whole clip);
    ``halo_frames_before`` / ``halo_frames_after``: temporal context (the encoder is causal and
    uses none after); ``stats_passes``: extra passes that only pool GroupNorm statistics.
    """

    tile: int = 64
    halo: int = 8
    blend: int = 4
    frames: int = 0
    halo_frames_before: int = 2
    halo_frames_after: int = 1
    stats_passes: int = 1

    def __post_init__(self):
        if (self.tile < 1 or self.halo < 0 or not 0 <= self.blend <= self.halo or self.frames < 0
                or self.halo_frames_before < 1 or self.halo_frames_after < 0 or self.stats_passes < 0):
            raise ValueError(f"invalid tiling settings {self}")


def tile_ranges(size: int, core: int, halo: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Split [0, size) into cores of ``core`` samples plus ``halo`` on both sides, clipped.

    Returns ``[((start, stop), (core_start, core_stop)), ...]``.
    """
    cores = [(a, min(a + core, size)) for a in range(0, size, core)]
    return [((max(0, a - halo), min(size, b + halo)), (a, b)) for a, b in cores]


def frame_chunks(frames: int, core: int, before: int, after: int, group: int):
    """Temporal chunks for a causal net that maps ``group`` input frames to one (frame 0 alone).

    Cores hold ``core`` groups; the first also holds frame 0 when ``group`` > 1. A chunk starts
    ``before`` groups early, at the last frame of a group, so its own "first frame" lines up
    with the global grouping; it extends ``after`` groups past its core.
    """
    lead = 1 if group > 1 else 0
    step = core * group
    if not core or frames <= lead + step:
        return [((0, frames), (0, frames))]
    starts = [0] + list(range(lead + step, frames, step))
    cores = list(zip(starts, starts[1:] + [frames]))
    return [((max(0, a - before * group + group - 1), min(frames, b + after * group)), (a, b)) for a, b in cores]


def low_memory_tiled(x: torch.Tensor, run: Run, tiling: LowMemoryTiling, *, spatial_factor: int,
                     temporal_factor: int, encode: bool, on_tile: TileCallback | None = None) -> torch.Tensor:
    """Run ``run`` over tiles of x: (B, C, T, H, W) with shared GroupNorm statistics and cross-fades.

    ``encode``: x is pixels (tile sizes are scaled to pixels, spatial tile borders fall on multiples
    of ``spatial_factor``); otherwise x is latents and the output is ``spatial_factor`` times larger.
    ``on_tile(done, total)``: after every tile run, counted over all passes.
    """
    frames, height, width = x.shape[2:]
    if encode and (height % spatial_factor or width % spatial_factor):
        raise ValueError(f"low-memory tiled encoding needs H and W divisible by {spatial_factor}, "
                         f"got {height}x{width} (CausalVAE.encode pads them)")
    unit = spatial_factor if encode else 1
    group = temporal_factor if encode else 1
    rows = tile_ranges(height, tiling.tile * unit, tiling.halo * unit)
    cols = tile_ranges(width, tiling.tile * unit, tiling.halo * unit)
    chunks = frame_chunks(frames, tiling.frames, tiling.halo_frames_before,
                          0 if encode else tiling.halo_frames_after, group)
    regions = [TileRegion(t, h, w, ct, ch, cw, frames)
               for t, ct in chunks for h, ch in rows for w, cw in cols]
    if len(regions) == 1:
        return run(x)
    blend = tiling.blend * (1 if encode else spatial_factor)
    on_tile = on_tile or _no_callback
    total = len(regions) * (tiling.stats_passes + 1)
    stats = None
    for index in range(tiling.stats_passes):
        shared = SharedNormStats(stats, collect_from=0)
        with sharing_norm_stats(shared):
            for done, region in enumerate(regions, index * len(regions) + 1):
                shared.begin_tile(region)
                run(_crop(x, region))
                on_tile(done, total)
        stats = shared.pooled()
    shared = SharedNormStats(stats, collect_from=None)
    out = None
    with sharing_norm_stats(shared):
        for done, region in enumerate(regions, total - len(regions) + 1):
            shared.begin_tile(region)
            tile = run(_crop(x, region))
            on_tile(done, total)
            if out is None:
                out = tile.new_zeros(tile.shape[:2] + _output_size(x.shape[2:], region, tile.shape[2:]))
            _add_weighted(out, tile, region, x.shape[2:], blend)
    return out


def _crop(x: torch.Tensor | RowBands, r: TileRegion) -> torch.Tensor:
    rows = x.rows(*r.rows) if isinstance(x, RowBands) else x[:, :, :, r.rows[0]:r.rows[1]]
    return rows[:, :, r.frames[0]:r.frames[1], :, r.cols[0]:r.cols[1]]


def _axis_maps(region: TileRegion, tile_shape):
    """Per axis (T, H, W): a function taking a global input index to a global output index."""
    span_t = region.frames[1] - region.frames[0]
    out_t = tile_shape[0]

    def frame_map(i):
        return causal_frame_index(i, span_t, out_t)

    def spatial_map(span, out):
        return lambda i: i * out // span

    return (frame_map,
            spatial_map(region.rows[1] - region.rows[0], tile_shape[1]),
            spatial_map(region.cols[1] - region.cols[0], tile_shape[2]))


def _output_size(in_size, region, tile_shape) -> tuple[int, int, int]:
    return tuple(m(n) for m, n in zip(_axis_maps(region, tile_shape), in_size))


def _add_weighted(out, tile, region: TileRegion, in_size, blend: int) -> None:
    """out[tile's place] += tile * w, with w a product of per-axis partition-of-unity weights."""
    frame_map, row_map, col_map = _axis_maps(region, tile.shape[2:])
    span_t = region.frames[1] - region.frames[0]
    # A chunk's local frame 0 stands in for the last frame of the group before its core.
    origin_t = region.frames[0] * (tile.shape[2] - 1) // max(span_t - 1, 1)
    weights = [
        _axis_weights(origin_t, tile.shape[2], region.core_frames, in_size[0], 0, frame_map),
        _axis_weights(row_map(region.rows[0]), tile.shape[3], region.core_rows, in_size[1], blend, row_map),
        _axis_weights(col_map(region.cols[0]), tile.shape[4], region.core_cols, in_size[2], blend, col_map),
    ]
    weights = [w.to(dtype=tile.dtype, device=tile.device) for w in weights]
    w = weights[0].view(-1, 1, 1) * weights[1].view(1, -1, 1) * weights[2].view(1, 1, -1)
    target = out[:, :, origin_t:origin_t + tile.shape[2],
                 row_map(region.rows[0]):row_map(region.rows[0]) + tile.shape[3],
                 col_map(region.cols[0]):col_map(region.cols[0]) + tile.shape[4]]
    target.add_(tile * w)


def _axis_weights(origin: int, length: int, core, size: int, blend: int, to_out) -> torch.Tensor:
    """Weight of each of a tile's ``length`` output samples (global positions origin...).

    ramp(core start) - ramp(core stop): neighbours' weights sum to exactly one, changing linearly
    over ``2 * blend`` output samples centred on the shared core boundary (a hard cut for 0).
    """
    pos = torch.arange(length, dtype=torch.float64) + origin

    def ramp(boundary):
        if blend == 0:
            return (pos >= boundary).double()
        return ((pos - boundary + blend + 0.5) / (2 * blend)).clamp(0, 1)

    rise = ramp(to_out(core[0])) if core[0] > 0 else torch.ones_like(pos)
    fall = ramp(to_out(core[1])) if core[1] < size else torch.zeros_like(pos)
    return rise - fall
