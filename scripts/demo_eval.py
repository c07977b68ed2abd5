"""Measure the demo models with the synthetic-data detectors.

    python -m scripts.demo_eval t2i [--samples N] [--steps S] [--cfg C] [--seed K]

Prints JSON: detector accuracy on (a) VAE reconstructions of ground-truth images (the VAE's
ceiling) and (b) images generated from every prompt with the official RFlow Euler sampler + CFG.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from scripts import demo_data as data
from scripts import demo_detect as detect
from scripts import demo_runtime as rt

T2I_FIELDS = ("colour", "shape", "background", "position")


def t2i_reconstruction_rate(vae, size: int = 64, seed: int = 0) -> dict[str, float]:
    """Detector accuracy on VAE round trips of one jittered image per T2I label."""
    rng = np.random.default_rng(seed)
    labels = data.t2i_labels()
    pixels = np.stack([data.render_t2i(label, size, tuple(rng.uniform(-0.05, 0.05, 2)))[None] for label in labels])
    recon = rt.decode_latents(vae, rt.encode_latents(vae, pixels))[:, 0]
    return detect.score([detect.detect_t2i(image) for image in recon], labels, T2I_FIELDS)


def t2i_generation(models: Path, samples: int = 1, steps: int = 20, cfg: float = 4.0, seed: int = 0,
                   size: int = 64, batch: int = 48) -> tuple[dict[str, float], np.ndarray, list[dict]]:
    """Generate ``samples`` images per T2I prompt; -> (rates, images (N, H, W, 3), labels)."""
    vae = rt.load_vae(models / rt.VAE_FILE)
    text = rt.TextEncoder(models / rt.T5_DIR)
    dit = rt.load_dit(models / rt.dit_file("t2i"))
    labels = [label for label in data.t2i_labels() for _ in range(samples)]
    latent = size // vae.config.spatial_factor
    images = []
    for i in range(0, len(labels), batch):
        prompts = [data.t2i_prompt(label) for label in labels[i:i + batch]]
        z = rt.generate(dit, text, prompts, (4, latent, latent), size, steps=steps, cfg=cfg, seed=seed + i)
        images.append(rt.decode_latents(vae, z[:, :, None])[:, 0])
    images = np.concatenate(images)
    return detect.score([detect.detect_t2i(image) for image in images], labels, T2I_FIELDS), images, labels


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=["t2i"])
    parser.add_argument("--models", default=str(rt.MODELS_DIR))
    parser.add_argument("--samples", type=int, default=2, help="samples per prompt")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", help="save the first 48 generated images as one PNG here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = Path(args.models)
    recon = t2i_reconstruction_rate(rt.load_vae(models / rt.VAE_FILE))
    rates, images, _ = t2i_generation(models, args.samples, args.steps, args.cfg, args.seed)
    if args.grid:
        from PIL import Image

        rows = [np.concatenate(list(images[r * 12:(r + 1) * 12]), 1) for r in range(min(4, len(images) // 12))]
        Image.fromarray((np.concatenate(rows) * 255).round().astype(np.uint8)).save(args.grid)
    print(json.dumps(dict(task=args.task, vae_reconstruction=recon, generation=rates, samples=len(images),
                          steps=args.steps, cfg=args.cfg, seed=args.seed), indent=1))


if __name__ == "__main__":
    main()
