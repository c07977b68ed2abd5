"""The released CausalVAE (random weights) decoded through ComfyUI's stock VAE Decode node under a
memory limit: the path an artist's workflow takes.

Per case, in a fresh process: ComfyUI is imported from the host under test (``COMFYUI_PATH`` or
the bundled ``.comfyui``) with ``--cpu``; a released-configuration VAE with seeded random weights
is saved as .safetensors and loaded by the PT-DiT VAE Loader's own code with
``memory_limit_gb``; then ComfyUI's ``VAEDecode`` node decodes a seeded latent. Reported:

* ``tiling``: what the loader's ``auto`` tiling chose for the limit;
* ``seconds``: the VAE Decode call;
* ``peak_above_weights_gib``: the process's peak resident memory during the call (VmHWM, reset
  just before it) minus its resident memory just before it (weights and interpreter loaded);
* ``progress``: how many progress-bar updates ComfyUI received, and the last (value, total);
* ``max_abs_vs_untiled`` (``--compare``): against ptdit's untiled decode of the same latent, on
  the node's [0, 1] pixels (costs an untiled decode: the clip's needs about 16 GiB).

Not a test: timings depend on the machine and its load.

    python benchmarks/vae_node_budget.py [--cases image video] [--limit-gb 4] [--compare] [--json F]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from benchmarks.scaling_models import PACK, import_comfy  # noqa: E402

CASES = {"image": (1, 4, 1, 128, 128), "video": (1, 4, 5, 64, 64)}  # 1024² image, 17x512² clip


def memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def reset_peak() -> None:
    """Start a new peak-RSS measurement (Linux: VmHWM := VmRSS)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def run_case(case: str, limit_gb: float, compare: bool, scratch: str) -> dict:
    """Inside the child process: save, load through the node code, decode through VAE Decode."""
    import importlib
    import importlib.util

    from safetensors.torch import save_file

    host = import_comfy(["--cpu"])
    import comfy.utils
    import folder_paths

    folder_paths.set_user_directory(scratch)  # the loader caches preview factors there
    spec = importlib.util.spec_from_file_location("comfyui_nodes", os.path.join(host.dir, "nodes.py"))
    core_nodes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core_nodes)
    vae_nodes = importlib.import_module(f"{PACK}.nodes.vae")
    from ptdit.vae.config import CausalVAEConfig
    from ptdit.vae.loading import METADATA_KEY
    from ptdit.vae.model import CausalVAE

    config = CausalVAEConfig.released()
    torch.manual_seed(0)
    path = os.path.join(scratch, "released_random.safetensors")
    reference = CausalVAE(config).eval()
    save_file(reference.state_dict(), path, metadata={METADATA_KEY: json.dumps(config.to_dict())})
    if not compare:
        del reference
    vae = vae_nodes.load_ptdit_vae(path, "auto", limit_gb)
    z = torch.randn(CASES[case], generator=torch.Generator().manual_seed(1))
    tiling = vae.first_stage_model.tiling_for(z.shape, z, encode=False)

    updates = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, *args, **kwargs: updates.append((value, total)))
    before = memory_kib("VmRSS")
    reset_peak()
    start = time.perf_counter()
    image = core_nodes.VAEDecode().decode(vae, {"samples": z})[0]
    seconds = time.perf_counter() - start
    peak = memory_kib("VmHWM")
    row = {"case": case, "comfyui": host.version, "limit_gib": limit_gb, "tiling": repr(tiling),
           "seconds": round(seconds, 1), "peak_above_weights_gib": round((peak - before) / 2**20, 3),
           "output": list(image.shape), "progress": [len(updates), list(updates[-1]) if updates else None]}
    if compare:
        with torch.no_grad():
            untiled = reference.decode(z, tiling=None)
        expected = ((untiled + 1) / 2).clamp(0, 1).movedim(1, -1).reshape(image.shape)  # frames as images
        row["max_abs_vs_untiled"] = (image - expected).abs().max().item()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--limit-gb", type=float, default=4.0, help="the loader's memory_limit_gb")
    parser.add_argument("--compare", action="store_true", help="also decode untiled and report the difference")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--child", metavar="CASE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        with tempfile.TemporaryDirectory() as scratch:
            print(json.dumps(run_case(args.child, args.limit_gb, args.compare, scratch)))
        return
    rows = []
    for case in args.cases:
        command = [sys.executable, __file__, "--child", case, "--limit-gb", str(args.limit_gb),
                   "--threads", str(args.threads)] + (["--compare"] if args.compare else [])
        child = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if child.returncode:
            sys.exit(f"{case} failed:\n{child.stderr[-3000:]}")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
