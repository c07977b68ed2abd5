"""Tiled-vs-untiled error and seam visibility of every CausalVAE tiling scheme.

A smooth test image (gradients and a soft disc) is encoded untiled; its latent is then decoded
untiled and with each scheme. Reported per scheme, on pixels in [-1, 1]:

* ``max_err`` / ``mean_err``: |tiled - untiled|;
* ``seam_step``: mean jump of the *error image* between adjacent pixel columns (rows) inside the
  bands where the scheme joins tiles (the blend zones), averaged over those bands;
* ``seam_ratio``: ``seam_step`` divided by the same measure over the whole interior. About 1 means
  the joins are not special (invisible); the reference's grid shows clearly above 1;
* ``tone_jump``: mean |difference| between the average error in a ``STRIP``-px strip on either side
  of each join band: a tone shift between neighbouring tiles, even a gradual one, shows here.
  ``tone_jump_ratio`` divides it by the same measure across bands of the same width centred
  between joins (about 1 when tiles agree);
* ``image_step``: mean step of the untiled image itself, for scale.

The outer ``MARGIN`` px are left out: a random decoder makes strong padding artefacts at the
image border whatever the tiling.

Weights are random (seeded): the released checkpoint is not available here. Random decoders are
far more sensitive to GroupNorm statistics than trained ones, so absolute errors are pessimistic.

    python benchmarks/vae_tiling_quality.py [--hidden 32] [--groups 8] [--size 512]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ptdit.reference.tiling import ReferenceTiling  # noqa: E402
from ptdit.reference.vae import ReferenceCausalVAE  # noqa: E402
from ptdit.vae.config import SPATIAL_FACTOR, CausalVAEConfig  # noqa: E402
from ptdit.vae.tiling import ExactTiling, LowMemoryTiling  # noqa: E402


def smooth_image(size: int) -> torch.Tensor:
    """(1, 3, 1, size, size) in [-1, 1]: colour gradients plus a soft-edged disc."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    disc = torch.sigmoid((0.55 - (x ** 2 + y ** 2).sqrt()) * 12)
    image = torch.stack([0.8 * x, 0.6 * y, 0.9 * disc - 0.45 + 0.2 * torch.sin(3 * x + 2 * y)])
    return image.clamp(-1, 1)[None, :, None]


MARGIN = 48
STRIP = 16


def seam_metrics(tiled: torch.Tensor, untiled: torch.Tensor, bands: list[tuple[int, int]]) -> dict:
    """``bands``: [start, stop) pixel ranges (same along H and W) where tiles are joined."""
    error = (tiled - untiled)[0, :, 0]  # (C, H, W)
    size = error.shape[-1]
    column_steps = (error[:, :, 1:] - error[:, :, :-1]).abs().mean((0, 1))  # step between column i and i+1
    row_steps = (error[:, 1:] - error[:, :-1]).abs().mean((0, 2))
    steps = (column_steps + row_steps) / 2
    interior = torch.zeros(size - 1, dtype=torch.bool)
    interior[MARGIN:size - MARGIN] = True
    in_band = torch.zeros_like(interior)
    for start, stop in bands:
        in_band[max(start - 1, 0):stop] = True
    in_band &= interior
    image_steps = (untiled[0, :, 0, :, 1:] - untiled[0, :, 0, :, :-1]).abs().mean()
    seam = steps[in_band].mean() if in_band.any() else torch.tensor(float("nan"))
    period = bands[1][0] - bands[0][0] if len(bands) > 1 else size
    shifted = [(a + period // 2, b + period // 2) for a, b in bands]
    jump = tone_jump(error, bands)
    return {
        "max_err": error.abs().max().item(),
        "mean_err": error.abs().mean().item(),
        "seam_step": seam.item(),
        "seam_ratio": (seam / steps[interior].mean().clamp_min(1e-12)).item(),
        "tone_jump": jump,
        "tone_jump_ratio": jump / max(tone_jump(error, shifted), 1e-12),
        "image_step": image_steps.item(),
    }


def tone_jump(error: torch.Tensor, bands: list[tuple[int, int]]) -> float:
    """Mean |mean error just before a band - mean error just after it|, over bands and both axes,
    along the interior part of each line."""
    size = error.shape[-1]
    inner = slice(MARGIN, size - MARGIN)
    jumps = []
    for start, stop in bands:
        if start - STRIP < MARGIN or stop + STRIP > size - MARGIN:
            continue
        for e in (error[:, inner], error.transpose(1, 2)[:, inner]):  # columns, then rows
            before = e[:, :, start - STRIP:start].mean(-1)
            after = e[:, :, stop:stop + STRIP].mean(-1)
            jumps.append((before - after).abs().mean())
    return torch.stack(jumps).mean().item() if jumps else float("nan")


def join_bands(size: int, period: int, before: int, after: int) -> list[tuple[int, int]]:
    return [(p - before, p + after) for p in range(period, size, period)]


def randomize(vae: torch.nn.Module, seed: int) -> None:
    """The fixtures' weight recipe: GroupNorm weight 1 + 0.25 N(0,1), bias 0.25 N(0,1); conv
    weight N(0,1) / sqrt(fan_in), bias 0.2 N(0,1). (PyTorch's default init gives a decoder whose
    GroupNorm inputs are nearly constant, which exaggerates every statistics effect.)"""
    generator = torch.Generator().manual_seed(seed)
    for module in vae.modules():
        if isinstance(module, torch.nn.GroupNorm):
            module.weight.copy_(1 + 0.25 * torch.randn(module.weight.shape, generator=generator))
            module.bias.copy_(0.25 * torch.randn(module.bias.shape, generator=generator))
        elif isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in ** 0.5)
            module.bias.copy_(0.2 * torch.randn(module.bias.shape, generator=generator))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--size", type=int, default=512, help="image edge in pixels")
    parser.add_argument("--tile", type=int, default=16, help="tile edge in latents for every scheme")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # A CausalVAE that also runs the reference tiling; decode_raw takes raw latents with any tiling.
    vae = ReferenceCausalVAE(CausalVAEConfig(hidden_size=args.hidden, norm_num_groups=args.groups)).eval()
    with torch.no_grad():
        randomize(vae, args.seed)
        mean, _ = vae.encode(smooth_image(args.size), tiling=None)
        untiled = vae.decode_raw(mean, tiling=None)
        reference = ReferenceTiling(tile_sample_min_size=args.tile * SPATIAL_FACTOR)
        extent = int(reference.tile_sample_min_size * reference.tile_overlap_factor)
        keep = reference.tile_sample_min_size - extent
        low = LowMemoryTiling(tile=args.tile)
        low_bands = join_bands(args.size, args.tile * SPATIAL_FACTOR, low.blend * SPATIAL_FACTOR, low.blend * SPATIAL_FACTOR)
        schemes = {  # name: (tiling, bands where it joins tiles)
            "reference": (reference, join_bands(args.size, keep, 0, extent)),
            "low_memory_own_stats": (LowMemoryTiling(tile=args.tile, stats_passes=0), low_bands),
            "low_memory": (low, low_bands),
            "low_memory_2_passes": (LowMemoryTiling(tile=args.tile, stats_passes=2), low_bands),
            "exact": (ExactTiling(tile=args.tile), join_bands(args.size, args.tile * SPATIAL_FACTOR, 2, 2)),
            "exact_lean": (ExactTiling(tile=args.tile, lean=True),
                           join_bands(args.size, args.tile * SPATIAL_FACTOR, 2, 2)),
        }
        report = {"config": vars(args), "latent": list(mean.shape), "schemes": {}}
        for name, (tiling, bands) in schemes.items():
            start = time.perf_counter()
            tiled = vae.decode_raw(mean, tiling=tiling)
            seconds = time.perf_counter() - start
            metrics = seam_metrics(tiled, untiled, bands)
            metrics["psnr_db"] = 10 * math.log10(4 / max((tiled - untiled).pow(2).mean().item(), 1e-20))
            metrics["seconds"] = seconds
            report["schemes"][name] = metrics
            print(f"{name:24s} " + " ".join(f"{k} {v:.3g}" for k, v in metrics.items()), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
