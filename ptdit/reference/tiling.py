"""The official tiled encode/decode of the CausalVAE, kept to compare against.

:func:`reference_tiled` reproduces the official ``tiled_encode`` / ``tiled_decode`` exactly:
independent tiles (each with its own GroupNorm statistics), temporal chunks that share one frame,
and the reference's asymmetric in-place blend. Visible seams; the runtime tilings of
:mod:`ptdit.vae.tiling` have none.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..vae.tiling import Run


@dataclass(frozen=True)
class ReferenceTiling:
    """The official tiled encode/decode settings (released values as defaults).

    The reference derives the latent tile as ``tile_sample_min_size / 2**(levels - 1)``; its config's
    own ``tile_latent_min_size`` entry is ignored.
    """

    tile_sample_min_size: int = 512
    tile_sample_min_size_t: int = 29
    tile_latent_min_size_t: int = 8
    tile_overlap_factor: float = 0.125
    num_levels: int = 4

    @property
    def tile_latent_min_size(self) -> int:
        return int(self.tile_sample_min_size / 2 ** (self.num_levels - 1))


def reference_chunks(frames: int, chunk: int) -> list[tuple[int, int]]:
    """Temporal chunks of the reference: starts every ``chunk - 1`` frames, neighbours share a frame."""
    starts = list(range(0, frames, chunk - 1))
    if len(starts) == 1:
        return [(0, frames)]
    ranges = [(a, b + 1) for a, b in zip(starts, starts[1:])]
    if ranges[-1][1] < frames:
        ranges.append((starts[-1], frames))
    return ranges


def reference_tiled(x: torch.Tensor, run: Run, tiling: ReferenceTiling, encode: bool) -> torch.Tensor:
    """The official tiled algorithm on pixels x (``encode``) or on unscaled latents x (decode).

    Returns moments (encode) or pixels (decode). Inputs that do not exceed the tile thresholds run
    untiled (the reference raises UnboundLocalError there instead).
    """
    tile_in = tiling.tile_sample_min_size if encode else tiling.tile_latent_min_size
    tile_out = tiling.tile_latent_min_size if encode else tiling.tile_sample_min_size
    chunk = tiling.tile_sample_min_size_t if encode else tiling.tile_latent_min_size_t
    if x.shape[-1] <= tile_in and x.shape[-2] <= tile_in and x.shape[2] <= chunk:
        return run(x)
    step = int(tile_in * (1 - tiling.tile_overlap_factor))
    extent = int(tile_out * tiling.tile_overlap_factor)
    keep = tile_out - extent
    pieces = []
    for index, (start, stop) in enumerate(reference_chunks(x.shape[2], chunk)):
        clip = x[:, :, start:stop]
        rows = [[run(clip[..., i:i + tile_in, j:j + tile_in]) for j in range(0, x.shape[-1], step)]
                for i in range(0, x.shape[-2], step)]
        out = _reference_blend(rows, extent, keep)
        pieces.append(out if index == 0 else out[:, :, 1:])
    return torch.cat(pieces, dim=2)


def _reference_blend(rows: list[list[torch.Tensor]], extent: int, keep: int) -> torch.Tensor:
    """Blend each tile in place with its (already blended) upper and left neighbours; keep the top-left part."""
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            if i > 0:
                _blend_edge(rows[i - 1][j], tile, extent, dim=3)
            if j > 0:
                _blend_edge(row[j - 1], tile, extent, dim=4)
    return torch.cat([torch.cat([t[..., :keep, :keep] for t in row], dim=4) for row in rows], dim=3)


def _blend_edge(prev: torch.Tensor, tile: torch.Tensor, extent: int, dim: int) -> None:
    """tile[first e] = prev[last e] * (1 - y/e) + tile[first e] * (y/e), y = 0..e-1, in place."""
    e = min(prev.shape[dim], tile.shape[dim], extent)
    if e == 0:
        return
    ramp = torch.arange(e, dtype=torch.float64) / e
    shape = [1] * tile.ndim
    shape[dim] = e
    inc = ramp.to(tile.dtype).view(shape).to(tile.device)
    dec = (1 - ramp).to(tile.dtype).view(shape).to(tile.device)
    head = tile.narrow(dim, 0, e)
    head.copy_(prev.narrow(dim, prev.shape[dim] - e, e) * dec + head * inc)
