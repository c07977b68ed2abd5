"""benchmarks/scaling.py --quick against the ComfyUI under test: ComfyUI's own PixArt (through its
BaseModel) and the MODEL the pack's loader builds (through ``apply_model``) both run, and the table's
FLOP and memory columns are what the models do.

The run is a subprocess of this interpreter (ComfyUI parses its command line once per process); the
``comfy_inproc`` fixture finds the host, so the test fails under CI when there is none. No timing is
asserted; no plot is written (matplotlib is a benchmark dependency only).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ptdit import WindowSettings
from ptdit.complexity import attention_ratio, latent_grid
from ptdit.vae.config import TEMPORAL_FACTOR

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_quick_scaling_run(comfy_inproc, tmp_path):
    out_json = tmp_path / "scaling.json"
    env = {**os.environ, "COMFYUI_PATH": str(comfy_inproc.dir)}
    run = subprocess.run([sys.executable, "benchmarks/scaling.py", "--quick", "--pairs", "1", "--json", str(out_json)],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out_json.read_text())
    assert "python benchmarks/scaling.py --quick --pairs 1" in run.stdout  # the command is printed with the table
    assert "floor: PT-DiT matmul s / PixArt s" in run.stdout
    assert str(comfy_inproc.dir) in result["machine"]
    rows = result["rows"]
    assert [r["case"] for r in rows] == ["384²", "512²", "5×384² clip"]
    width, layers = 32, 1  # the quick shape
    for r in rows:
        f, h, w = latent_grid(r["px"], r["px"], 1 + (r["frames"] - 1) // TEMPORAL_FACTOR)
        window = WindowSettings.paper_default((f, h, w))
        assert r["tokens"] == f * h * w and r["window"] == list(window.window)
        assert r["flops"]["pixart"] == 4 * width * layers * r["tokens"] ** 2  # full self-attention
        assert r["flops"]["ptdit"] / r["flops"]["pixart"] == attention_ratio((f, h, w), window) < 0.15
        assert set(r["seconds"]) == {"ptdit", "pixart"} and min(r["seconds"].values()) > 0
        assert set(r["ratios"]) == {"ptdit/pixart"} and r["parity"] is None  # no official code here
        assert all(len(ratio["pairs"]) == r["pairs"] == 1 for ratio in r["ratios"].values())
        # The floor column: seconds in the linear layers' matrix products of one profiled CPU forward.
        assert set(r["matmul_seconds"]) == {"ptdit", "pixart"} and min(r["matmul_seconds"].values()) > 0
        # Peak live activations: at least one (tokens, width) fp32 tensor each; ComfyUI's CPU attention
        # (sub-quadratic: chunks of 4096 queries given a few hundred MB free) holds (heads, queries, N)
        # scores that PT-DiT never builds.
        assert min(r["peak_bytes"].values()) >= r["tokens"] * width * 4
        if result["attention"] == "attention_sub_quad":
            scores = 2 * min(r["tokens"], 4096) * r["tokens"] * 4
            assert r["peak_bytes"]["pixart"] >= scores > r["peak_bytes"]["ptdit"]
