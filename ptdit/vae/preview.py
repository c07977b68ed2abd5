"""Linear latent -> RGB preview factors for a CausalVAE (ComfyUI's Latent2RGB previewer format)."""
from __future__ import annotations

import torch
from torch import nn

from .config import LATENT_SCALE


@torch.no_grad()
def fit_preview_factors(vae, seed: int = 0) -> tuple[list, list]:
    """Least-squares factors A (embed_dim rows of 3) and bias b with rgb ~ latent · A + b.

    Draws latents as the transformer produces them (N(0, 1) in the space scaled by 0.18215),
    decodes them untiled, averages each spatial_factor² pixel block and fits over all positions;
    rgb in [-1, 1] units. ``ValueError`` if the decoded pixels are not finite.
    """
    g = torch.Generator().manual_seed(seed)
    param = next(vae.parameters())
    embed, factor = vae.config.embed_dim, vae.config.spatial_factor
    scaled = torch.randn(4, embed, 1, 8, 8, generator=g)
    pixels = vae.decode((scaled / LATENT_SCALE).to(param), tiling=None).float()
    if not bool(torch.isfinite(pixels).all()):
        raise ValueError("the VAE decodes to non-finite pixels (NaN or inf)")
    rgb = nn.functional.avg_pool2d(pixels[:, :, 0], factor)  # (N, 3, 8, 8)
    features = scaled[:, :, 0].permute(0, 2, 3, 1).reshape(-1, embed)
    design = torch.cat([features, torch.ones(features.shape[0], 1)], dim=1)
    solution = torch.linalg.lstsq(design, rgb.permute(0, 2, 3, 1).reshape(-1, 3)).solution
    return solution[:-1].tolist(), solution[-1].tolist()
