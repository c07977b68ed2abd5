"""Decode time and peak memory of the released CausalVAE (random weights), per tiling mode.

Cases: a 1024x1024 image (latent 1x4x1x128x128) and a 17-frame 512x512 clip (latent
1x4x5x64x64). Modes: untiled, the reference tiling (released settings), ExactTiling and
LowMemoryTiling. Each (case, mode) runs in a fresh subprocess so that its peak RSS is its own:

* ``seconds``: wall time of one decode (after building the model and the input);
* ``peak_rss_gib``: peak resident memory minus the resident memory before the decode (weights
  and interpreter excluded), i.e. what the decode itself needed;
* ``estimate_gib``: the meta-device estimate ``ptdit.vae.memory.peak_bytes`` for comparison;
* ``max_abs_vs_untiled``: against the untiled output of the same case (when both ran).

A run whose estimate does not fit in the available RAM is skipped and reported as such.
Not a test: timings depend on the machine and on its load.

    python benchmarks/vae_decode.py [--cases image video] [--modes untiled exact] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import psutil
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from ptdit.reference.tiling import ReferenceTiling  # noqa: E402
from ptdit.reference.vae import ReferenceCausalVAE  # noqa: E402
from ptdit.vae.config import CausalVAEConfig  # noqa: E402
from ptdit.vae.memory import SAFETY_FACTOR, peak_bytes  # noqa: E402
from ptdit.vae.model import CausalVAE  # noqa: E402
from ptdit.vae.tiling import ExactTiling, LowMemoryTiling  # noqa: E402

CASES = {"image": (1, 4, 1, 128, 128), "video": (1, 4, 5, 64, 64)}
MODES = {
    "untiled": None,
    "reference": ReferenceTiling(),
    "exact": ExactTiling(tile=32),
    "low_memory": LowMemoryTiling(tile=32),
}


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_one(case: str, mode: str, threads: int, output: str) -> dict:
    """Build, decode once, report. Runs inside the child process."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = CausalVAEConfig.released()
    vae = ReferenceCausalVAE(config).eval()  # a CausalVAE that also runs the reference tiling
    z = torch.randn(CASES[case])
    before = rss_bytes()
    start = time.perf_counter()
    with torch.no_grad():
        pixels = vae.decode_raw(z, tiling=MODES[mode])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    torch.save(pixels, output)
    return {"seconds": seconds, "peak_rss_gib": (peak - before) / 2**30, "output": list(pixels.shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("CASE", "MODE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child[:2], args.threads, args.child[2])))
        return
    config = CausalVAEConfig.released()
    weights = 4 * sum(s.numel() for s in CausalVAE(config, device="meta").state_dict().values())  # fp32 bytes
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in args.cases:
            outputs, untiled = {}, None
            for mode in args.modes:
                shape = CASES[case]
                if mode == "reference":  # tiles are decoded one at a time: the largest tile's peak
                    tile = MODES[mode]
                    shape = shape[:2] + (min(shape[2], tile.tile_latent_min_size_t),
                                         *(min(n, tile.tile_latent_min_size) for n in shape[3:]))
                estimate = peak_bytes(config, shape, torch.float32, False,
                                      None if mode == "reference" else MODES[mode])
                row = {"case": case, "mode": mode, "estimate_gib": estimate / 2**30}
                if estimate * SAFETY_FACTOR + weights > 0.8 * psutil.virtual_memory().available:
                    row["skipped"] = "estimate does not fit in the available RAM"
                else:
                    path = os.path.join(scratch, f"{case}-{mode}.pt")
                    child = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                                            "--child", case, mode, path], capture_output=True, text=True)
                    if child.returncode:
                        row["failed"] = child.stderr.strip().splitlines()[-1:] or [f"exit {child.returncode}"]
                    else:
                        row.update(json.loads(child.stdout.strip().splitlines()[-1]))
                        outputs[mode] = path
                if mode == "untiled" and mode in outputs:
                    untiled = torch.load(outputs[mode])
                elif untiled is not None and mode in outputs:
                    row["max_abs_vs_untiled"] = (torch.load(outputs[mode]) - untiled).abs().max().item()
                results.append(row)
                print(json.dumps(row), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
