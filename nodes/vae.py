"""The Open-Sora-Plan v1.2 CausalVAE as a real ``comfy.sd.VAE``, and the PT-DiT VAE Loader node.

The stock VAE Decode / VAE Encode / VAE Decode (Tiled) nodes work with it: core's constructor sets
it up (:mod:`.core_vae`), it declares 4x temporal, 8x spatial causal compression the way core
declares its causal video VAEs and estimates memory from the model's own peak-memory model. With
``tiling="auto"`` each call picks its tiling for the free memory ComfyUI reports (capped by the
loader's ``memory_limit_gb``), and tiled calls
report progress and honour ComfyUI's interrupt between tiles. LATENTs hold raw
(unscaled) VAE latents; the 0.18215 scale lives in the latent format (``PTDiTLatentFormat``).
"""
from __future__ import annotations

import os

import torch
from torch import nn

import comfy.model_management as mm
import comfy.ops
import comfy.utils

from ..ptdit.checkpoint import CheckpointError, read_failure
from ..ptdit.vae.config import SPATIAL_FACTOR, TEMPORAL_FACTOR
from ..ptdit.vae.loading import config_from_metadata, load_causal_vae
from ..ptdit.vae.memory import EXACT_TILE, choose_tiling, decode_bytes_per_pixel, encode_bytes_per_pixel
from ..ptdit.vae.model import CausalVAE
from ..ptdit.vae.preview import fit_preview_factors
from ..ptdit.vae.tiling import ExactTiling
from .api import io
from .core_vae import CausalVideoVAE
from .model_folders import VAE_FILES
from .preview_cache import PreviewFactors, vae_preview_factors
from .schema import node_schema
from .validation import CheckedNode

TILING_MODES = ("auto", "untiled")


GIB = 2**30


def working_budget(device, limit: int | None = None) -> int:
    """Bytes a VAE call may use on ``device``: what ComfyUI reports free there (weights loaded),
    at most ``limit`` bytes when one is set."""
    free = mm.get_free_memory(torch.device(device))
    return free if limit is None else min(free, limit)


def tile_progress():
    """An ``on_tile(done, total)`` for ptdit's tiled calls: a ComfyUI progress bar, and ComfyUI's
    interrupt (raised between tiles)."""
    bar = None

    def on_tile(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = comfy.utils.ProgressBar(total)
        bar.update_absolute(done, total)
        mm.throw_exception_if_processing_interrupted()

    return on_tile


class ComfyCausalVAE(nn.Module):
    """``first_stage_model``: (B, C, T, H, W) tensors in ComfyUI's layout, raw latents.

    ``encode`` returns the posterior mean (deterministic, as core does for its video VAEs); image
    latents reach ``decode`` as one-frame clips (:class:`PTDiTVAE` adds the frame axis).
    ``tiling``: "auto" (chosen per call for the free memory of the input's device, at most
    ``memory_limit`` bytes when set), None (untiled) or a ptdit tiling.
    """

    def __init__(self, vae: CausalVAE, tiling="auto", memory_limit: int | None = None):
        super().__init__()
        self.vae = vae
        self.tiling = tiling
        self.memory_limit = memory_limit

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        s = self.vae.config.spatial_factor
        padded = x.shape[:3] + tuple(-(-n // s) * s for n in x.shape[3:])
        mean, _ = self.vae.encode(x, tiling=self.tiling_for(padded, x, encode=True), on_tile=tile_progress())
        return mean

    def decode(self, z: torch.Tensor, tile: int | None = None) -> torch.Tensor:
        """``tile``: latent tile edge asked for by VAE Decode (Tiled), decoded with the seam-free
        :class:`ExactTiling` (whole clips in time); without it, the loader's tiling."""
        tiling = ExactTiling(tile) if tile else self.tiling_for(z.shape, z, encode=False)
        return self.vae.decode(z, tiling=tiling, on_tile=tile_progress())

    def tiling_for(self, shape, x: torch.Tensor, encode: bool):
        """The tiling of an encode (``shape``: padded pixels) or decode (latents) of ``x``."""
        if self.tiling != "auto":
            return self.tiling
        budget = working_budget(x.device, self.memory_limit)
        return choose_tiling(self.vae.config, tuple(shape), x.dtype, budget, encode)


def _pixels(shape, temporal_up: bool) -> int:
    """Output (decode) or input (encode) pixel count of a 4-D or 5-D tensor shape."""
    frames = shape[2] if len(shape) == 5 else 1
    if temporal_up:
        frames = (frames - 1) * TEMPORAL_FACTOR + 1
        return shape[0] * frames * shape[-2] * shape[-1] * SPATIAL_FACTOR ** 2
    return shape[0] * frames * shape[-2] * shape[-1]


class PTDiTVAE(CausalVideoVAE):
    """A ``comfy.sd.VAE`` around :class:`ptdit.vae.model.CausalVAE`, built by core's own constructor code.

    ``preview_factors``: the latent-preview factors fitted to its file (:mod:`.preview_cache`), for
    the PT-DiT VAE Previews node; None = the default factors. ``memory_limit``: bytes an auto-tiled
    call may use at most (None: what ComfyUI reports free).
    """

    def __init__(self, vae: CausalVAE, tiling="auto", preview_factors: PreviewFactors | None = None,
                 memory_limit: int | None = None):
        config = vae.config
        super().__init__(
            ComfyCausalVAE(vae, tiling, memory_limit), latent_channels=config.embed_dim, temporal=TEMPORAL_FACTOR,
            spatial=SPATIAL_FACTOR,
            memory_used_encode=lambda shape, dtype: encode_bytes_per_pixel(config, dtype, 1) * _pixels(
                shape, temporal_up=False),
            memory_used_decode=lambda shape, dtype: decode_bytes_per_pixel(
                config, dtype, shape[2] if len(shape) == 5 else 1) * _pixels(shape, temporal_up=True))
        self.preview_factors = preview_factors

    def decode(self, samples_in, vae_options={}):
        """Image latents (B, 4, h, w) decode as one-frame clips to IMAGE (B, H, W, 3)."""
        if samples_in.ndim == 4:
            return super().decode(samples_in[:, :, None], vae_options)[:, 0]
        return super().decode(samples_in, vae_options)

    def decode_tiled(self, samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None):
        """VAE Decode (Tiled): core's decode with ptdit's seam-free tiling at the asked latent tile
        edge instead of core's blended tiles (GroupNorm statistics per tile would show as seams).
        Overlaps are not needed; the temporal size is not used (tiles span the whole clip)."""
        edges = [t for t in (tile_x, tile_y) if t]
        return self.decode(samples, vae_options={"tile": min(edges) if edges else EXACT_TILE})


def load_ptdit_vae(path: str, tiling: str = "auto", memory_limit_gb: float = 0.0) -> PTDiTVAE:
    """Read ``path`` with ComfyUI's safe loader and wrap the CausalVAE; ``ValueError`` names the file.
    ``memory_limit_gb``: GiB an auto-tiled encode or decode may use above the weights (0: no limit
    beyond the free memory). The preview factors of the file come from the cache, or are fitted here
    (float32, before core moves the model to its working dtype)."""
    name = os.path.basename(path)
    if tiling not in TILING_MODES:
        raise ValueError(f"tiling must be one of {', '.join(TILING_MODES)}, got {tiling!r}")
    if not memory_limit_gb >= 0:
        raise ValueError(f"memory_limit_gb must be 0 (no limit) or a positive number of GiB, got {memory_limit_gb!r}")
    try:
        raw, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    except Exception as exc:  # unreadable file: ComfyUI's loader raises various types
        raise ValueError(f"{name} {read_failure(path, exc)}") from exc
    try:
        vae = load_causal_vae(raw, config_from_metadata(metadata), operations=comfy.ops.disable_weight_init)
    except (CheckpointError, ValueError) as exc:
        raise ValueError(f"{name} cannot be loaded as the Open-Sora-Plan v1.2 CausalVAE: {exc}") from exc
    factors = vae_preview_factors(path, vae.config.embed_dim, lambda: fit_preview_factors(vae.float()))
    limit = int(memory_limit_gb * GIB) if memory_limit_gb else None
    return PTDiTVAE(vae, "auto" if tiling == "auto" else None, factors, limit)


class PTDiTVAELoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTVAELoader", "PT-DiT VAE Loader", "loaders",
            "Loads the Open-Sora-Plan v1.2 CausalVAE (4 channels, 4x temporal, 8x spatial) for the stock VAE "
            "Decode / Encode nodes.",
            inputs=[VAE_FILES.combo("vae_name", "CausalVAE checkpoint in models/vae (.safetensors or weights-only "
                                                ".pt/.ckpt)."),
                    io.Combo.Input("tiling", options=list(TILING_MODES), default="auto",
                                   tooltip="auto: untiled when it fits in free memory, else seam-free tiling; "
                                           "untiled: always decode whole (fastest, most memory)."),
                    io.Float.Input("memory_limit_gb", default=0.0, min=0.0, max=1024.0, step=0.5, optional=True,
                                   tooltip="auto tiling: at most this many GiB for one decode or encode, above the "
                                           "weights (e.g. 4 on a shared machine). 0: whatever ComfyUI reports "
                                           "free. Smaller budgets tile more finely and take longer.")],
            outputs=[io.Vae.Output(tooltip="A VAE for VAE Decode, VAE Encode and VAE Decode (Tiled).")])

    @classmethod
    def execute(cls, vae_name: str, tiling: str, memory_limit_gb: float = 0.0) -> io.NodeOutput:
        return io.NodeOutput(load_ptdit_vae(VAE_FILES.path(vae_name), tiling, memory_limit_gb))
