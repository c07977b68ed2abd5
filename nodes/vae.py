"""The Open-Sora-Plan v1.2 CausalVAE as a real ``comfy.sd.VAE``, and the PT-DiT VAE Loader node.

The stock VAE Decode / VAE Encode / VAE Decode (Tiled) nodes work with it: it declares 4x
temporal, 8x spatial causal compression the way core declares its causal video VAEs, estimates
memory from the model's own peak-memory model, and runs inside a ModelPatcher. LATENTs hold raw
(unscaled) VAE latents; the 0.18215 scale lives in the latent format (``PTDiTLatentFormat``).
"""
from __future__ import annotations

import math
import os

import torch
from torch import nn

import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import comfy.sd

from ..ptdit.checkpoint import CheckpointError
from ..ptdit.vae import CausalVAE
from ..ptdit.vae_loading import load_causal_vae
from ..ptdit.vae_memory import decode_bytes_per_pixel, encode_bytes_per_pixel
from .api import io
from .comfy_model import VAE_SPATIAL, VAE_TEMPORAL, PTDiTLatentFormat
from .model_folders import find_file, list_files
from .validation import CheckedNode

TILING_MODES = {"auto": "auto", "untiled": None}


class ComfyCausalVAE(nn.Module):
    """``first_stage_model``: (B, C, T, H, W) tensors in ComfyUI's layout, raw latents.

    ``encode`` returns the posterior mean (deterministic, as core does for its video VAEs); image
    latents reach ``decode`` as one-frame clips (:class:`PTDiTVAE` adds the frame axis).
    """

    def __init__(self, vae: CausalVAE, tiling):
        super().__init__()
        self.vae = vae
        self.tiling = tiling

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        mean, _ = self.vae.encode(x, tiling=self.tiling)
        return mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z, tiling=self.tiling)


def _pixels(shape, temporal_up: bool) -> int:
    """Output (decode) or input (encode) pixel count of a 4-D or 5-D tensor shape."""
    frames = shape[2] if len(shape) == 5 else 1
    if temporal_up:
        frames = (frames - 1) * VAE_TEMPORAL + 1
        return shape[0] * frames * shape[-2] * shape[-1] * VAE_SPATIAL ** 2
    return shape[0] * frames * shape[-2] * shape[-1]


class PTDiTVAE(comfy.sd.VAE):
    """A ``comfy.sd.VAE`` built around :class:`ptdit.vae.CausalVAE` (``super().__init__`` needs a
    state dict core recognises, so every attribute its methods read is set here)."""

    def __init__(self, vae: CausalVAE, tiling="auto"):
        self.first_stage_model = ComfyCausalVAE(vae, tiling).eval()
        config = vae.config
        self.latent_channels = config.embed_dim
        self.latent_dim = 3
        self.output_channels = 3
        k, s = VAE_TEMPORAL, VAE_SPATIAL
        self.upscale_ratio = (lambda t: max(0, t * k - (k - 1)), s, s)
        self.upscale_index_formula = (k, s, s)
        self.downscale_ratio = (lambda t: max(0, math.floor((t + k - 1) / k)), s, s)
        self.downscale_index_formula = (k, s, s)
        self.memory_used_decode = lambda shape, dtype: decode_bytes_per_pixel(
            config, dtype, shape[2] if len(shape) == 5 else 1) * _pixels(shape, temporal_up=True)
        self.memory_used_encode = lambda shape, dtype: encode_bytes_per_pixel(
            config, dtype, 1) * _pixels(shape, temporal_up=False)
        self.process_input = lambda image: image * 2.0 - 1.0
        self.process_output = lambda image: torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0)
        self.working_dtypes = [torch.bfloat16, torch.float32]
        self.disable_offload = False
        self.not_video = False
        self.extra_1d_channel = None
        self.crop_input = True
        self.size = None
        self.device = mm.vae_device()
        self.vae_dtype = mm.vae_dtype(self.device, self.working_dtypes)
        self.first_stage_model.to(self.vae_dtype)
        self.output_device = mm.intermediate_device()
        self.patcher = comfy.model_patcher.ModelPatcher(self.first_stage_model, load_device=self.device,
                                                       offload_device=mm.vae_offload_device())

    def decode(self, samples_in, vae_options={}):
        """Image latents (B, 4, h, w) decode as one-frame clips to IMAGE (B, H, W, 3)."""
        if samples_in.ndim == 4:
            return super().decode(samples_in[:, :, None], vae_options)[:, 0]
        return super().decode(samples_in, vae_options)

    def decode_tiled(self, samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None):
        if samples.ndim == 4:
            return super().decode_tiled(samples[:, :, None], tile_x, tile_y, overlap, tile_t, overlap_t)[:, 0]
        return super().decode_tiled(samples, tile_x, tile_y, overlap, tile_t, overlap_t)


@torch.no_grad()
def fit_preview_factors(vae: CausalVAE, seed: int = 0) -> tuple[list, list]:
    """Least-squares RGB preview factors for this VAE.

    Draws latents as the transformer produces them (N(0, 1) in the scaled space), decodes them,
    averages each 8x8 pixel block and fits rgb ≈ latent · A + b over all positions. Returns
    (A as 4 rows of 3, b) in [-1, 1] pixel units, as ComfyUI's Latent2RGB previewer expects.
    """
    g = torch.Generator().manual_seed(seed)
    param = next(vae.parameters())
    scaled = torch.randn(4, vae.config.embed_dim, 1, 8, 8, generator=g)
    pixels = vae.decode((scaled / PTDiTLatentFormat.scale_factor).to(param), tiling=None).float()
    rgb = nn.functional.avg_pool2d(pixels[:, :, 0], VAE_SPATIAL)  # (N, 3, 8, 8)
    features = scaled[:, :, 0].permute(0, 2, 3, 1).reshape(-1, vae.config.embed_dim)
    design = torch.cat([features, torch.ones(features.shape[0], 1)], dim=1)
    solution = torch.linalg.lstsq(design, rgb.permute(0, 2, 3, 1).reshape(-1, 3)).solution
    return solution[:-1].tolist(), solution[-1].tolist()


def load_ptdit_vae(path: str, tiling: str = "auto") -> PTDiTVAE:
    name = os.path.basename(path)
    if tiling not in TILING_MODES:
        raise ValueError(f"tiling must be one of {', '.join(TILING_MODES)}, got {tiling!r}")
    try:
        vae = load_causal_vae(path, operations=comfy.ops.disable_weight_init)
    except (CheckpointError, ValueError) as exc:
        raise ValueError(f"{name} cannot be loaded as the Open-Sora-Plan v1.2 CausalVAE: {exc}") from exc
    # Previews of PT-DiT sampling use factors fitted to the VAE actually loaded.
    factors, bias = fit_preview_factors(vae)
    PTDiTLatentFormat.latent_rgb_factors, PTDiTLatentFormat.latent_rgb_factors_bias = factors, bias
    return PTDiTVAE(vae, TILING_MODES[tiling])


VAE_FOLDERS = ("vae",)


class PTDiTVAELoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PTDiTVAELoader", display_name="PT-DiT VAE Loader", category="PT-DiT/loaders",
            description="Loads the Open-Sora-Plan v1.2 CausalVAE (4 channels, 4x temporal, 8x spatial) for "
                        "the stock VAE Decode / Encode nodes.",
            inputs=[
                io.Combo.Input("vae_name", options=list_files(VAE_FOLDERS),
                               tooltip="CausalVAE checkpoint in models/vae (.safetensors or weights-only .pt/.ckpt)."),
                io.Combo.Input("tiling", options=list(TILING_MODES), default="auto",
                               tooltip="auto: untiled when it fits in free memory, else seam-free tiling; "
                                       "untiled: always decode whole (fastest, most memory)."),
            ],
            outputs=[io.Vae.Output(tooltip="A VAE for VAE Decode, VAE Encode and VAE Decode (Tiled).")],
        )

    @classmethod
    def execute(cls, vae_name: str, tiling: str) -> io.NodeOutput:
        return io.NodeOutput(load_ptdit_vae(find_file(vae_name, VAE_FOLDERS, "VAE file"), tiling))
