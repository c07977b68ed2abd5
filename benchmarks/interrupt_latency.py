"""Seconds from ``POST /interrupt`` to the interrupted prompt's end, in a real ComfyUI (CPU).

The host tests check only that an interrupt stops a prompt before its end; this measures how long
it takes. Cases, each interrupted once sampling (or sleeping) reports progress:

* ``sleep``: the test pack's PTDiTTestSleep node, 3000 steps of 20 ms (the harness alone);
* ``sampler``: PTDiTSamplerT2I with a tiny random PT-DiT at 512x512, batch 2, 200 steps (the
  pack's sampler: one step is the longest wait).

Prints JSON: per case the latencies of every repeat, their median and maximum. Not a test:
timings depend on the machine and on its load.

    python benchmarks/interrupt_latency.py [--comfyui DIR] [--cases sleep sampler] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safetensors.torch import save_file  # noqa: E402

from ptdit import PTDiT, PTDiTConfig  # noqa: E402
from tests.harness.base_dir import testkit_packs  # noqa: E402
from tests.harness.server import ComfyHost  # noqa: E402

MODEL = "ptdit_interrupt_bench.safetensors"
CAPTION = 24


def write_tiny_model(host: ComfyHost) -> None:
    config = PTDiTConfig(num_heads=2, head_dim=16, num_layers=2, caption_channels=CAPTION,
                         compress_ratios=(1, 4, 4), proxy_ratios=(1, 4, 4), sample_size=16)
    model = PTDiT(config)
    save_file(model.state_dict(), str(host.model_path("diffusion_models", MODEL)),
              metadata={"ptdit_config": json.dumps(config.to_dict())})


def prompt(case: str, seed: int) -> tuple[dict, str]:
    """(API prompt, id of the node whose progress shows that work is under way)."""
    if case == "sleep":
        return {"1": {"class_type": "PTDiTTestSleep",
                      "inputs": {"steps": 3000, "step_seconds": 0.02, "tag": f"bench {seed}"}}}, "1"
    text = {"class_type": "PTDiTTestConditioning", "inputs": {"seed": 1, "tokens": 6, "kept": 4, "channels": CAPTION}}
    return {
        "load": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": MODEL, "weight_dtype": "default"}},
        "text": text,
        "s": {"class_type": "PTDiTSamplerT2I", "inputs": {
            "model": ["load", 0], "positive": ["text", 0], "negative": ["text", 0], "width": 512, "height": 512,
            "batch_size": 2, "seed": seed, "steps": 200, "cfg": 4.0, "sampler_name": "euler",
            "scheduler": "ptdit_rflow"}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["s", 0], "filename_prefix": "bench"}},
    }, "s"


def interrupt_once(host: ComfyHost, case: str, seed: int) -> float:
    graph, node = prompt(case, seed)
    prompt_id = host.queue_prompt(graph)
    host.wait_running(prompt_id, timeout=300)
    deadline = time.monotonic() + 300
    while not [e for e in host.events(prompt_id, "progress") if e["data"].get("node") == node]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{case}: no progress within 300 s")
        time.sleep(0.05)
    start = time.monotonic()
    host.interrupt(prompt_id)
    result = host.wait(prompt_id, timeout=300, poll=0.02)
    seconds = time.monotonic() - start
    if not result.interrupted:
        raise RuntimeError(f"{case}: the prompt was not interrupted: {result.describe()}")
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", help="ComfyUI checkout (default: $COMFYUI_PATH or <repo>/.comfyui)")
    parser.add_argument("--cases", nargs="+", choices=("sleep", "sampler"), default=["sleep", "sampler"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ptdit_interrupt_") as base:
        host = ComfyHost(args.comfyui, base_dir=base,
                         extra_custom_nodes=testkit_packs())
        try:
            host.start()
            write_tiny_model(host)
            report = {"comfyui": str(host.comfy_dir), "version": host.system_stats()["system"]["comfyui_version"]}
            for case in args.cases:
                seconds = [interrupt_once(host, case, seed) for seed in range(args.repeats)]
                report[case] = {"seconds": [round(s, 3) for s in seconds],
                                "median": round(statistics.median(seconds), 3), "max": round(max(seconds), 3)}
        finally:
            host.stop()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
