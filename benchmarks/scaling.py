"""PT-DiT as artists run it, against the official code and ComfyUI's PixArt: whole forward, one table.

    python benchmarks/scaling.py [--quick] [--pairs 5] [--long-pairs 2] [--device cpu] [--dtype fp32]
        [--official-src DIR] [--comfy-args "..."] [--plot docs/images/scaling.png] [--json FILE]

Models, all at the same width, depth and text length, with seeded random weights (biases included):

* PT-DiT: the MODEL the PT-DiT Model Loader builds from a ``.safetensors`` file (ComfyUI's layers and
  attention), called through ``BaseModel.apply_model`` with the conditioning its ``extra_conds`` builds
  (prompt padded to 200 tokens with a mask) and the paper's window for each size (Proxy Ratio ``auto``);
* official (with ``--official-src``): MindSpeed-MM's ``PTDiTDiffuser`` on the same weights and window;
  it needs diffusers 0.30.3 in this interpreter and a grid that is a whole number of windows. Its
  output is the reference: PT-DiT's must agree to 1e-4 (max abs error over max abs value) or the run fails;
* PixArt: ComfyUI's own PixArt through its BaseModel (full self-attention), from the host under test
  (``COMFYUI_PATH`` or the bundled ``.comfyui``). For the clip it stands for full 3-D attention: its
  latent is the clip's frames stacked into one tall image (same token count).

Each case times the whole forward in alternating pairs (``benchmarks/pairs.py``) for each of
:data:`PAIRS`; the median of the per-pair ratios is reported with its range, a model's seconds are
the median over all its timed runs. The warm-up forward of every model runs under
``ptdit.vae.memory.LiveTensorBytes``, whose peak is the "peak MiB" column (bytes of live activations,
weights excluded). Attention FLOPs come from ``ptdit.complexity.self_attention_flops``. On a CPU one
more profiled forward of each model gives its matrix-product seconds (:func:`matmul_seconds`): PT-DiT's
over a baseline's whole forward is the "floor" column, the ratio an exact PT-DiT with these linear
layers cannot go below on this machine. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from benchmarks.pairs import time_pairs  # noqa: E402
from benchmarks.scaling_models import Models, Shape, import_comfy  # noqa: E402
from ptdit.checkpoint import COMPUTE_DTYPES  # noqa: E402
from ptdit.complexity import attention_ratio, self_attention_flops  # noqa: E402
from ptdit.config import WindowSettings  # noqa: E402
from ptdit.vae.config import SPATIAL_FACTOR, TEMPORAL_FACTOR  # noqa: E402
from ptdit.vae.memory import LiveTensorBytes  # noqa: E402

LONG_TOKENS = 10_000  # cases above this many tokens get --long-pairs pairs (PixArt: minutes per forward)
PAIRS = (("ptdit", "official"), ("ptdit", "pixart"))  # (model, baseline) timed against each other
NAMES = {"ptdit": "PT-DiT", "pixart": "PixArt", "official": "official"}
PARITY = 1e-4  # PT-DiT against the official output: max abs error / max abs value


@dataclass(frozen=True)
class Case:
    """One input size: ``frames`` pixel frames (1 = image) of ``px`` x ``px``."""
    px: int
    frames: int = 1

    @property
    def key(self) -> str:
        """Its name for ``--cases``: the size, or ``clip``."""
        return str(self.px) if self.frames == 1 else "clip"

    @property
    def label(self) -> str:
        return f"{self.px}²" if self.frames == 1 else f"{self.frames}×{self.px}² clip"

    @property
    def latent(self) -> tuple[int, int, int]:
        """(F, H, W) latent size: CausalVAE 8x spatial, 4x temporal after the first frame."""
        return 1 + (self.frames - 1) // TEMPORAL_FACTOR, self.px // SPATIAL_FACTOR, self.px // SPATIAL_FACTOR

    @property
    def grid(self) -> tuple[int, int, int]:
        """(F, H, W) token grid: the latent in patches of 2 x 2."""
        f, h, w = self.latent
        return f, h // 2, w // 2


FULL = dict(shape=Shape(num_heads=16, head_dim=72, blocks=2, caption_channels=4096, text_tokens=120),
            cases=(Case(512), Case(1024), Case(2048), Case(512, 17)))
QUICK = dict(shape=Shape(num_heads=2, head_dim=16, blocks=1, caption_channels=32, text_tokens=8),
             cases=(Case(384), Case(512), Case(384, 5)))


def measure_case(models: Models, case: Case, pairs: int) -> dict:
    """Peak activation bytes, attention FLOPs and paired timings of every model at one size."""
    grid = case.grid
    window = WindowSettings.paper_default(grid)
    shape = models.shape
    runs = models.forwards(case.latent, window)
    peaks, outputs = {}, {}
    for name, run in runs.items():
        with LiveTensorBytes() as counter:  # also the warm-up forward
            outputs[name] = run()
        if not torch.isfinite(outputs[name]).all():
            raise RuntimeError(f"{name} produced non-finite outputs at {case.label}")
        peaks[name] = counter.peak
    parity = None
    if "official" in outputs:
        want = outputs["official"]
        parity = float((outputs["ptdit"] - want).abs().max() / want.abs().max())
        if parity > PARITY:
            raise RuntimeError(f"PT-DiT differs from the official output by {parity:.2e} (relative) at {case.label}")
    tokens = math.prod(grid)
    ptdit_flops = self_attention_flops(grid, shape.width, shape.blocks, window)
    row = dict(case=case.label, px=case.px, frames=case.frames, tokens=tokens, window=list(window.window),
               pairs=pairs, attention_ratio=attention_ratio(grid, window), parity=parity,
               flops={name: ptdit_flops for name in runs},
               peak_bytes=peaks, seconds={}, ratios={})
    row["flops"]["pixart"] = self_attention_flops(grid, shape.width, shape.blocks)
    runs_seconds = {name: [] for name in runs}
    for model, baseline in PAIRS:
        if baseline not in runs:
            continue
        timing = time_pairs(runs[model], runs[baseline], pairs=pairs, warmup=0)
        runs_seconds[model] += timing.a_seconds
        runs_seconds[baseline] += timing.b_seconds
        row["ratios"][f"{model}/{baseline}"] = dict(median=timing.median_ratio, low=timing.ratio_range[0],
                                                    high=timing.ratio_range[1], pairs=list(timing.ratios))
    row["seconds"] = {name: statistics.median(seconds) for name, seconds in runs_seconds.items()}
    if models.device.type == "cpu":
        row["matmul_seconds"] = {name: matmul_seconds(run) for name, run in runs.items()}
    return row


def matmul_seconds(run: Callable[[], torch.Tensor]) -> float:
    """Seconds one CPU forward spends in the linear layers' matrix products: the profiler's self time of
    ``aten::addmm`` and ``aten::mm`` (attention runs as ``bmm``/``baddbmm`` or a fused kernel)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in ("aten::addmm", "aten::mm")) / 1e6


def _cell(row: dict, model: str) -> str:
    if model not in row["seconds"]:
        return "– | – | –"
    mib = row["peak_bytes"][model] / 2 ** 20
    return f"{row['seconds'][model]:.3g} | {mib:.1f} | {row['flops'][model] / 1e9:.4g}"


def _ratio(row: dict, pair: tuple[str, str]) -> str:
    r = row["ratios"].get("/".join(pair))
    return "–" if r is None else f"{r['median']:.3f} ({r['low']:.2f}–{r['high']:.2f})"


def _floor(row: dict, pair: tuple[str, str]) -> str:
    model, baseline = pair
    matmuls = row.get("matmul_seconds")
    if matmuls is None or baseline not in row["seconds"]:
        return "–"
    return f"{matmuls[model] / row['seconds'][baseline]:.3f}"


def table(rows: list[dict], official: bool) -> str:
    """Markdown table: seconds per forward, peak MiB and attention GFLOP per model, paired ratios."""
    models = ["ptdit", "pixart"] + (["official"] if official else [])
    pairs = [p for p in PAIRS if official or "official" not in p]
    head = ["size", "tokens", "PT-DiT window", "pairs"]
    for m in models:
        head += [f"{NAMES[m]} s", f"{NAMES[m]} peak MiB", f"{NAMES[m]} attn GFLOP"]
    head += [f"{NAMES[a]} / {NAMES[b]} s (range)" for a, b in pairs]
    head += [f"floor: {NAMES[a]} matmul s / {NAMES[b]} s" for a, b in pairs] + ["attn FLOPs PT-DiT / PixArt"]
    head += ["PT-DiT vs official (rel.)"] if official else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], str(r["tokens"]), "(" + ",".join(map(str, r["window"])) + ")", str(r["pairs"])]
        cells += [_cell(r, m) for m in models]
        cells += [_ratio(r, pair) for pair in pairs] + [_floor(r, pair) for pair in pairs]
        cells += [f"{100 * r['attention_ratio']:.2f} %"]
        cells += (["–" if r["parity"] is None else f"{r['parity']:.1e}"] if official else [])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_note(models: Models, device: str, dtype: str) -> str:
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    if torch.device(device).type == "cuda":
        device = f"{device} ({torch.cuda.get_device_name(device)})"
    return (f"torch {torch.__version__}, {device} {dtype}, {torch.get_num_threads()} threads, "
            f"{platform.processor() or platform.machine()}, load average {load}; "
            f"ComfyUI {models.comfy_version} at {models.comfy_dir}, attention {models.comfy_attention}"
            + (f"; official attention {models.official_attention}" if models.official_attention else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny width and sizes: a smoke run of a few seconds")
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs per case (default 5)")
    parser.add_argument("--long-pairs", type=int, default=2,
                        help=f"pairs for cases above {LONG_TOKENS} tokens (default 2)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--dtype", choices=sorted(COMPUTE_DTYPES), default="fp32")
    parser.add_argument("--official-src", metavar="DIR", help="MindSpeed-MM checkout: adds the official PT-DiT")
    parser.add_argument("--comfy-args", default="", help="extra ComfyUI command-line arguments, e.g. "
                        "--comfy-args=--use-pytorch-cross-attention (--cpu is added for a CPU device)")
    parser.add_argument("--plot", metavar="PNG", help="write the plot here (needs matplotlib), "
                        "e.g. docs/images/scaling.png")
    parser.add_argument("--cases", nargs="+", metavar="CASE", help="run only these cases: sizes (512 1024 "
                        "1536 2048; 384 512 with --quick) and/or clip (default: all)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows to this file (after every case)")
    parser.add_argument("--replot", metavar="FILE", nargs="+", help="only draw --plot from the --json FILEs of "
                        "earlier runs (e.g. one stopped before its last case, and one run of the rest)")
    args = parser.parse_args(argv)
    if args.replot:
        if not args.plot:
            parser.error("--replot needs --plot PNG")
        runs = []
        for path in args.replot:
            with open(path) as f:
                runs.append(json.load(f))
        rows = sorted((r for run in runs for r in run["rows"]), key=lambda r: (r["frames"] > 1, r["tokens"]))
        _plot(rows, args.plot, "\n".join(f"{run['command']}\n{run['machine']}" for run in runs))
        return
    command = "python benchmarks/scaling.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    preset = QUICK if args.quick else FULL
    device = torch.device(args.device)
    comfy_argv = (["--cpu"] if device.type == "cpu" else []) + shlex.split(args.comfy_args)
    comfy = import_comfy(comfy_argv)
    workdir = tempfile.mkdtemp(prefix="ptdit_bench_")  # the model file the loader reads
    models = Models(comfy, preset["shape"], device, COMPUTE_DTYPES[args.dtype], workdir, args.official_src)
    note = machine_note(models, args.device, args.dtype)
    print(note, flush=True)
    official = args.official_src is not None
    cases = [c for c in preset["cases"] if args.cases is None or c.key in args.cases]
    if not cases:
        parser.error(f"--cases: choose from {' '.join(c.key for c in preset['cases'])}")
    done = {}
    for case in sorted(cases, key=lambda c: math.prod(c.grid)):  # cheapest first; the table keeps the order
        pairs = args.long_pairs if math.prod(case.grid) > LONG_TOKENS else args.pairs
        done[case] = measure_case(models, case, pairs)
        print(table([done[case]], official).splitlines()[-1], flush=True)
        rows = [done[c] for c in cases if c in done]
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(command=command, machine=note, attention=models.comfy_attention,
                               shape=preset["shape"].describe(), rows=rows), f, indent=1)
    text = table(rows, official)
    print(f"\n{command}\n{note}\n{preset['shape'].describe()}\n\n{text}")
    if args.plot:
        _plot(rows, args.plot, f"{command}\n{note}")


def _plot(rows: list[dict], path: str, caption: str) -> None:
    from benchmarks.scaling_plot import plot

    plot(rows, any("official" in r["seconds"] for r in rows), path, caption)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
