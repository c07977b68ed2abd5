"""How much memory a VAE call needs, and the tiling choice that follows from it.

Estimates come from running the real code path on the ``meta`` device (shapes only, no data, no
compute) while counting the bytes of every tensor that is alive at the same time, so they follow
the implementation. Memory allocated inside kernels (convolution workspaces) and allocator
overhead are not visible, hence the safety margin in :func:`choose_tiling`. Weights are not
counted.
"""
from __future__ import annotations

import functools
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .model import CausalVAE
from .tiling import ExactTiling, LowMemoryTiling, stage_edges, stage_regions

SAFETY_FACTOR = 1.25  # kernel workspaces + allocator fragmentation on top of the counted peak
LOW_MEMORY_TILES = (64, 32, 16)  # latent tile edges tried for LowMemoryTiling, whole clip
LOW_MEMORY_FRAMES = (8, 4, 1)  # then latent frames per temporal chunk, with the smallest tile
EXACT_TILE = 32
LEAN_TILES = (32, 16, 8)  # latent tile edges tried for lean ExactTiling, before LowMemoryTiling
PROBE_LATENTS = 8  # latent edge of the calls that bytes-per-pixel figures are measured on


class LiveTensorBytes(TorchDispatchMode):
    """Counts bytes of storages allocated by ops inside the mode and records the peak.

    Outputs that alias an input (views, in-place ops) are not new memory and are skipped;
    storages are released from the count when they are freed. A convolution counts one extra
    copy of its input while it runs: oneDNN on CPU reorders the input into its blocked layout
    (measured: a 0.6 GiB Conv2d/Conv3d input raises the peak RSS by 0.6 GiB plus the output).
    """

    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._live: dict[int, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        for index, value in enumerate(outputs):
            aliased = index < len(returns) and returns[index].alias_info is not None
            if not aliased:
                for tensor in tree_leaves(value):
                    if isinstance(tensor, torch.Tensor):
                        self._track(tensor.untyped_storage())
        if func is torch.ops.aten.convolution.default:
            self.peak = max(self.peak, self.current + args[0].nbytes)
        return out

    def _track(self, storage) -> None:
        key = id(storage)
        if key in self._live:
            return
        size = storage.nbytes()
        self._live[key] = size
        self.current += size
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._release, key)

    def _release(self, key: int) -> None:
        self.current -= self._live.pop(key, 0)


@functools.lru_cache(maxsize=8)
def _meta_vae(config, dtype: torch.dtype):
    return CausalVAE(config, dtype=dtype, device="meta").eval()


def peak_bytes(config, shape, dtype: torch.dtype, encode: bool, tiling=None) -> int:
    """Approximate peak activation bytes of ``decode_raw`` (latents ``shape``) or ``encode_moments``
    (pixels ``shape``) with ``tiling`` (None, :class:`ExactTiling` or :class:`LowMemoryTiling`).

    Untiled: a shape-only run on the meta device. Tiled: the larger of the whole-size buffers the
    scheme keeps plus an untiled run on one tile (halo included), and the part that always runs
    whole (the attention head at latent resolution, see :func:`_head_peak`).
    """
    shape = tuple(shape)
    if tiling is None:
        return _simulated_peak(config, shape, dtype, encode)
    unit = config.spatial_factor if encode else 1
    if isinstance(tiling, ExactTiling):
        edge, halo = tiling.tile * unit, 2 * unit
        frames = shape[2]
    elif isinstance(tiling, LowMemoryTiling):
        edge, halo = tiling.tile * unit, tiling.halo * unit
        if encode:  # causal encoder: context before the chunk only, 1 + 4k pixel frames
            chunk = (tiling.frames + tiling.halo_frames_before) * config.temporal_factor + 1
        else:
            chunk = tiling.frames + tiling.halo_frames_before + tiling.halo_frames_after
        frames = shape[2] if not tiling.frames else min(shape[2], chunk)
    else:
        raise ValueError(f"no memory model for tiling {tiling!r}")
    tile_shape = shape[:2] + (frames, min(shape[3], edge + 2 * halo), min(shape[4], edge + 2 * halo))
    tile_peak = _simulated_peak(config, tile_shape, dtype, encode)
    lean = tiling.lean if isinstance(tiling, ExactTiling) else None  # None: no whole layer tensors
    whole = _whole_buffers(config, shape, dtype, encode, lean, edge)
    return max(tile_peak + whole, _head_peak(config, shape, dtype, encode))


@functools.lru_cache(maxsize=256)
def _simulated_peak(config, shape, dtype, encode) -> int:
    vae = _meta_vae(config, dtype)
    x = torch.empty(shape, dtype=dtype, device="meta")
    tracker = LiveTensorBytes()
    with torch.no_grad(), tracker:
        if encode:
            vae.encode_moments(x)
        else:
            vae.decode_raw(x)
    return tracker.peak


@functools.lru_cache(maxsize=256)
def _head_peak(config, shape, dtype, encode) -> int:
    """Peak bytes while a tiled call runs its untiled part: the decoder's head on the latents, or
    the encoder's head on the tiled levels' output (the call's input is not counted, as untiled)."""
    vae = _meta_vae(config, dtype)
    x = torch.empty(shape, dtype=dtype, device="meta")
    tracker = LiveTensorBytes()
    with torch.no_grad():
        if encode:
            h = x
            for stage in vae.encoder.stages():
                h = stage.run(h)
            with tracker:
                vae._quant(vae.encoder.forward_head(h))
            return h.nbytes + tracker.peak
        with tracker:
            vae.decoder.forward_head(vae._post_quant(x))
    return tracker.peak


@functools.lru_cache(maxsize=256)
def _whole_buffers(config, shape, dtype, encode, lean: bool | None, edge: int) -> int:
    """Bytes of the whole-size tensors a tiled call keeps: the untiled part's input and the output,
    plus, for exact tiling (``lean`` not None), what its tiled layers hold at once.

    An exact layer holds its whole input and output; a lean one frees input rows while it writes
    output rows (row of tiles r of R: (R - r) input bands and r + 1 output bands).
    """
    vae = _meta_vae(config, dtype)
    x = torch.empty(shape, dtype=dtype, device="meta")
    with torch.no_grad():
        if encode:
            stages = vae.encoder.stages()
            h = x
        else:
            stages = vae.decoder.stages(bool(lean))
            h = vae.decoder.forward_head(vae._post_quant(x))
        untiled_part, layers = h.nbytes, 0
        for stage, stage_edge in stage_edges(stages, edge):
            out = stage.run(h)
            if lean:
                bands = len({region.core_rows for region in stage_regions(h.shape[2:], stage, stage_edge)})
                layers = max(layers, h.nbytes + out.nbytes // bands, h.nbytes // bands + out.nbytes)
            else:
                layers = max(layers, h.nbytes + out.nbytes)
            h = out
    return (0 if lean is None else layers) + untiled_part + h.nbytes


@functools.lru_cache(maxsize=64)
def decode_bytes_per_pixel(config, dtype: torch.dtype = torch.float32, frames: int = 1) -> float:
    """Approximate peak bytes per output pixel (per frame) of an untiled decode of ``frames`` latent
    frames, measured on :data:`PROBE_LATENTS`² latents. Multiplied by B * T_out * H * W it bounds
    larger calls from above (their padded convs carry less border), by at most (8+2)²/8² for H, W
    multiples of 64."""
    out_frames = (frames - 1) * config.temporal_factor + 1
    pixels = out_frames * (PROBE_LATENTS * config.spatial_factor) ** 2
    shape = (1, config.embed_dim, frames, PROBE_LATENTS, PROBE_LATENTS)
    return peak_bytes(config, shape, dtype, encode=False) / pixels


@functools.lru_cache(maxsize=64)
def encode_bytes_per_pixel(config, dtype: torch.dtype = torch.float32, frames: int = 1) -> float:
    """Approximate peak bytes per input pixel (per frame) of an untiled encode of ``frames`` frames."""
    side = PROBE_LATENTS * config.spatial_factor
    return peak_bytes(config, (1, 3, frames, side, side), dtype, encode=True) / (frames * side * side)


def choose_tiling(config, shape, dtype, budget: int, encode: bool):
    """None (untiled) if the untiled call fits ``budget`` bytes, else :class:`ExactTiling` if it
    fits, else lean :class:`ExactTiling` with large to small tiles (still exact), else the first
    fitting :class:`LowMemoryTiling` from large tiles over whole clips to small tiles over single
    latent frames (the last one if nothing fits). The caller measures the budget (the node layer
    asks ComfyUI for the free memory of the VAE's device)."""
    candidates = [None, ExactTiling(EXACT_TILE)]
    candidates += [ExactTiling(tile, lean=True) for tile in LEAN_TILES]
    candidates += [LowMemoryTiling(tile=tile) for tile in LOW_MEMORY_TILES]
    candidates += [LowMemoryTiling(tile=LOW_MEMORY_TILES[-1], frames=frames) for frames in LOW_MEMORY_FRAMES]
    for tiling in candidates:
        if peak_bytes(config, tuple(shape), dtype, encode, tiling) * SAFETY_FACTOR <= budget:
            return tiling
    return candidates[-1]
