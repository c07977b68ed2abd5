"""The stock EasyCache node on PT-DiT: sampling time saved and the demo T2I model's accuracy kept.

    python benchmarks/easycache.py [--prompts 144] [--pairs 3] [--steps 20] [--threshold 0.2]

Runs in one process on the ComfyUI under test (``COMFYUI_PATH`` or the bundled ``.comfyui``): the demo
T2I MODEL built by the PT-DiT Model Loader, sampled by the PT-DiT T2I sampler's own path
(``nodes.samplers.run_sampler``: ``ptdit_rflow``, euler, CFG 2) on every demo prompt in one batch, as it
is and behind ComfyUI's ``EasyCache`` node (start 0.15, end 0.95), timed in alternating pairs
(``benchmarks/pairs.py``). Each output is decoded with the demo VAE and read by the synthetic-data
detector (``scripts.demo.detect``); the steps EasyCache skipped come from its own log line.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import shlex
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from benchmarks.pairs import time_pairs  # noqa: E402
from benchmarks.scaling_models import PACK, import_comfy  # noqa: E402
from ptdit.vae.config import LATENT_SCALE  # noqa: E402
from scripts.demo import data, detect  # noqa: E402
from scripts.demo import runtime as rt  # noqa: E402
from scripts.demo.evaluate import T2I_FIELDS  # noqa: E402


class SkippedSteps(logging.Handler):
    """Collects EasyCache's "skipped N/M steps" log lines."""

    def __init__(self):
        super().__init__()
        self.skipped: list[tuple[int, int]] = []

    def emit(self, record):
        found = re.search(r"EasyCache - skipped (\d+)/(\d+) steps", record.getMessage())
        if found:
            self.skipped.append((int(found[1]), int(found[2])))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=len(data.t2i_labels()), help="demo prompts (default: all)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=0.2, help="EasyCache reuse_threshold (its default 0.2)")
    args = parser.parse_args(argv)
    command = "python benchmarks/easycache.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    host = import_comfy(["--cpu"])
    import comfy.utils
    from comfy_extras.nodes_easycache import EasyCacheNode

    samplers = importlib.import_module(f"{PACK}.nodes.samplers")
    comfy.utils.PROGRESS_BAR_ENABLED = False
    labels = data.t2i_labels()[:: max(1, len(data.t2i_labels()) // args.prompts)][: args.prompts]
    text = rt.TextEncoder(rt.MODELS_DIR / rt.T5_DIR)
    states, mask = text([data.t2i_prompt(label) for label in labels])
    empty, empty_mask = text([""])
    positive = [[states, {"attention_mask": mask}]]
    negative = [[empty, {"attention_mask": empty_mask}]]
    model = host.model_loader.load_ptdit_model(str(rt.MODELS_DIR / rt.dit_file("t2i")))
    cached = EasyCacheNode.execute(model, args.threshold, 0.15, 0.95, False).result[0]
    vae = rt.load_vae(rt.MODELS_DIR / rt.VAE_FILE)
    latent = torch.zeros(len(labels), 4, rt.SIZE // 8, rt.SIZE // 8)
    log = SkippedSteps()
    logging.getLogger().addHandler(log)
    logging.getLogger().setLevel(logging.INFO)

    def sample(m):
        return samplers.run_sampler(m, positive, negative, latent, seed=0, steps=args.steps, cfg=rt.CFG,
                                    sampler_name="euler", scheduler=samplers.OFFICIAL_SCHEDULER,
                                    height=rt.SIZE, width=rt.SIZE, frames=1)

    def accuracy(out):
        pixels = rt.decode_latents(vae, out[:, :, None] * LATENT_SCALE)[:, 0]
        return detect.score([detect.detect_t2i(p) for p in pixels], labels, T2I_FIELDS)

    plain_rates, cached_rates = accuracy(sample(model)), accuracy(sample(cached))
    timing = time_pairs(lambda: sample(cached), lambda: sample(model), pairs=args.pairs, warmup=0)
    skipped, total = log.skipped[-1]
    print(f"\n{command}\nComfyUI {host.version}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(labels)} prompts in one batch, {args.steps} steps, CFG {rt.CFG:g}, reuse_threshold {args.threshold}\n")
    print("| sampling | steps run | seconds | time vs plain (range) | all fields right | " + " | ".join(T2I_FIELDS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(T2I_FIELDS))
    for name, rates, steps, seconds, ratio in (
            ("plain", plain_rates, total, timing.b_median, "1"),
            ("EasyCache", cached_rates, total - skipped, timing.a_median,
             f"{timing.median_ratio:.3f} ({timing.ratio_range[0]:.2f}–{timing.ratio_range[1]:.2f})")):
        print(f"| {name} | {steps}/{total} | {seconds:.2f} | {ratio} | {rates['all']:.3f} | "
              + " | ".join(f"{rates[f]:.3f}" for f in T2I_FIELDS) + " |")


if __name__ == "__main__":
    main()
