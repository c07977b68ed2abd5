"""Cost of the NaN / inf checks (ptdit/finite.py) on this machine.

* load: ``check_finite_weights`` over a state dict shaped like the released 1.1B transformer
  (bf16, filled with 0.5), against reading the same bytes once (``torch.sum``);
* step: ``check_step`` on the latent of one 1024² image with CFG (2, 4, 128, 128), against one
  forward of the demo T2I model at 64 px (the cheapest real step; the released model's step at
  1024² costs thousands of times more).

Not a test: timings depend on the machine and its load.

    python benchmarks/finite_checks.py [--pairs 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from benchmarks.pairs import time_pairs  # noqa: E402
from ptdit import PRESETS, PTDiT  # noqa: E402
from ptdit.finite import check_finite_weights, check_step  # noqa: E402
from scripts.demo import runtime as demo  # noqa: E402


def released_state_dict() -> dict[str, torch.Tensor]:
    shapes = {k: v.shape for k, v in PTDiT(PRESETS["qihoo-t2i-1.1b"], device="meta").state_dict().items()}
    return {k: torch.full(shape, 0.5, dtype=torch.bfloat16) for k, shape in shapes.items()}


def demo_step():
    """A callable running one demo T2I forward with CFG at 64 px."""
    model = demo.load_dit(demo.MODELS_DIR / demo.dit_file("t2i"))
    x = torch.randn(2, 4, 8, 8)
    t = torch.full((2,), 500.0)
    text = torch.randn(2, 8, model.config.caption_channels)
    mask = torch.ones(2, 8, dtype=torch.long)
    return lambda: model(x, t, text, mask)


def _time_load_check(pairs: int):
    """Parameter count and the load check timed against one sum per weight (weights freed after)."""
    weights = released_state_dict()
    params = sum(t.numel() for t in weights.values())
    return params, time_pairs(lambda: check_finite_weights(weights),
                              lambda: [t.sum() for t in weights.values()], pairs=pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    params, load = _time_load_check(args.pairs)
    latent = torch.randn(2, 4, 128, 128)
    step = time_pairs(lambda: check_step(latent, 0, 30, "benchmark"), demo_step(), pairs=args.pairs)
    print(json.dumps({
        "threads": args.threads,
        "load_check": {"parameters": params, "seconds": round(load.a_median, 3),
                       "vs_one_sum_pass": round(load.median_ratio, 3),
                       "range": [round(r, 3) for r in load.ratio_range]},
        "step_check": {"latent": list(latent.shape), "milliseconds": round(step.a_median * 1e3, 3),
                       "vs_demo_step_64px": round(step.median_ratio, 4),
                       "range": [round(r, 4) for r in step.ratio_range]},
    }))


if __name__ == "__main__":
    main()
