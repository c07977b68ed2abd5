"""Measure the demo models with the synthetic-data detectors.

    python -m scripts.demo.evaluate t2i|t2v|t2mv [--samples N] [--steps S] [--cfg C] [--seed K] [--grid PNG]
                                  [--size PX] [--window F H W]

Prints JSON: detector accuracy on (a) VAE reconstructions of ground-truth T2I images (the VAE's
ceiling) and (b) outputs generated from every prompt of the task with the official RFlow Euler
sampler + CFG.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ptdit import WindowSettings
from scripts.demo import data
from scripts.demo import detect
from scripts.demo import runtime as rt

T2I_FIELDS = ("colour", "shape", "background", "position")


def t2i_reconstruction_rate(vae, size: int = 64, seed: int = 0) -> dict[str, float]:
    """Detector accuracy on VAE round trips of one jittered image per T2I label."""
    rng = np.random.default_rng(seed)
    labels = data.t2i_labels()
    pixels = np.stack([data.render_t2i(label, size, tuple(rng.uniform(-0.05, 0.05, 2)))[None] for label in labels])
    recon = rt.decode_latents(vae, rt.encode_latents(vae, pixels))[:, 0]
    return detect.score([detect.detect_t2i(image) for image in recon], labels, T2I_FIELDS)


TASKS = {  # labels, prompt, detector, fields checked, pixel frames per sample
    "t2i": (data.t2i_labels, data.t2i_prompt, lambda x: detect.detect_t2i(x[0]), T2I_FIELDS, 1),
    "t2v": (data.t2v_labels, data.t2v_prompt, detect.detect_t2v, ("colour", "direction"), rt.T2V_FRAMES),
    "t2mv": (data.t2mv_labels, data.t2mv_prompt, detect.detect_t2mv, ("colour", "shape", "consistent"), rt.T2MV_VIEWS),
}


def generation(task: str, models: Path, samples: int = 1, steps: int = 20, cfg: float = rt.CFG, seed: int = 0,
               size: int = 64, batch: int = 48, window: WindowSettings | None = None
               ) -> tuple[dict[str, float], np.ndarray, list[dict]]:
    """Generate ``samples`` outputs per prompt of ``task`` at ``size`` px and read them back with its
    detector; ``window`` overrides the checkpoint's window (= proxy) ratios.

    Returns (rates, pixels (N, T, H, W, 3), labels). T2V latents are decoded as one causal clip
    (1 + 4k frames); T2MV latents hold one view per latent frame and are decoded as an image batch,
    as the T2MV sampler's ``views`` output is.
    """
    make_labels, make_prompt, detector, fields, frames = TASKS[task]
    vae = rt.load_vae(models / rt.VAE_FILE)
    text = rt.TextEncoder(models / rt.T5_DIR)
    dit = rt.load_dit(models / rt.dit_file(task))
    labels = [label for label in make_labels() for _ in range(samples)]
    latent = size // vae.config.spatial_factor
    latent_frames = {"t2i": 1, "t2v": 1 + (frames - 1) // vae.config.temporal_factor, "t2mv": frames}[task]
    shape = (4, latent, latent) if task == "t2i" else (4, latent_frames, latent, latent)
    outputs = []
    for i in range(0, len(labels), batch):
        prompts = [make_prompt(label) for label in labels[i:i + batch]]
        z = rt.generate(dit, text, prompts, shape, size, frames=frames, steps=steps, cfg=cfg, seed=seed + i,
                        window=window)
        if task == "t2i":
            outputs.append(rt.decode_latents(vae, z[:, :, None]))
        elif task == "t2v":
            outputs.append(rt.decode_latents(vae, z))
        else:
            views = z.transpose(1, 2).reshape(-1, 4, 1, latent, latent)
            outputs.append(rt.decode_latents(vae, views)[:, 0].reshape(len(prompts), frames, size, size, 3))
    pixels = np.concatenate(outputs)
    truth = [dict(label, consistent=True) for label in labels] if task == "t2mv" else labels
    found = [detector(x) for x in pixels]
    rates = detect.score(found, truth, fields)
    if task == "t2v":
        rates.update(travel_summary([f["travel"] for f in found]))
    return rates, pixels, labels


def travel_summary(travel) -> dict[str, float]:
    """Median centroid travel of T2V clips (fraction of the side; the training clips travel
    ``data.T2V_TRAVEL``) and the share of clips that travel at least a third of the frame."""
    travel = np.asarray(travel, np.float64)
    return dict(travel_median=float(np.median(travel)), travel_third=float((travel >= 1 / 3).mean()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--models", default=str(rt.MODELS_DIR))
    parser.add_argument("--samples", type=int, default=2, help="samples per prompt")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=rt.CFG, help=f"guidance scale (default {rt.CFG:g}, the demo models')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", help="save 12 generated samples (spread over the prompts) as one PNG here")
    parser.add_argument("--size", type=int, default=64, help="sample side in pixels (the models are trained at 64)")
    parser.add_argument("--window", type=int, nargs=3, metavar=("F", "H", "W"),
                        help="window = proxy ratio in tokens (default: the checkpoint's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = Path(args.models)
    recon = t2i_reconstruction_rate(rt.load_vae(models / rt.VAE_FILE))
    window = WindowSettings(tuple(args.window), tuple(args.window)) if args.window else None
    rates, pixels, _ = generation(args.task, models, args.samples, args.steps, args.cfg, args.seed, args.size,
                                  window=window)
    if args.grid:
        from PIL import Image

        rows = [np.concatenate(list(clip), 1) for clip in pixels[:: max(1, len(pixels) // 12)][:12]]
        if args.task == "t2i":
            rows = [np.concatenate(rows[r * 6:(r + 1) * 6], 1) for r in range(len(rows) // 6)]
        Image.fromarray((np.concatenate(rows) * 255).round().astype(np.uint8)).save(args.grid)
    print(json.dumps(dict(task=args.task, vae_reconstruction_t2i=recon, generation=rates, samples=len(pixels),
                          steps=args.steps, cfg=args.cfg, seed=args.seed, size=args.size, window=args.window),
                     indent=1))


if __name__ == "__main__":
    main()
