"""The widget's maths (web/ptdit_ratio_math.js, run in node) gives the same numbers as the Python side.

Compared exhaustively where it is cheap (the paper's table for every grid up to 256 x 256 tokens,
the token grid of every size the size widgets allow) and on a table of grids x ratios for the
read-out (attention cost, proxy tokens, windows, padding). Also checks nodes/options.py's tiling
rule, which is pure Python but lives in the ComfyUI adapter package.
"""
from __future__ import annotations

import importlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import types
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from ptdit import PRESETS, PTDiTConfig, WindowSettings
from ptdit.complexity import _geometry, attention_ratio, latent_grid
from tests.reference_io import IN_CI

REPO_ROOT = Path(__file__).resolve().parents[2]
MATH_JS = REPO_ROOT / "web" / "ptdit_ratio_math.js"
RATIO_MAX = 64
# Trained (window, proxy) ratios of checkpoint-mode cases: the released model's, the demo's, others.
TRAINED = [((1, 8, 8), (1, 8, 8)), ((1, 2, 2), (1, 2, 2)), ((4, 16, 16), (4, 8, 4)), ((1, 8, 8), (1, 4, 8))]

NODE_SCRIPT = r"""
import { readFileSync } from "node:fs";
const m = await import(process.argv[1]);
const q = JSON.parse(readFileSync(0, "utf8"));
const out = {
  constants: { VAE_SPATIAL: m.VAE_SPATIAL, VAE_TEMPORAL: m.VAE_TEMPORAL, PATCH: m.PATCH },
  paper: q.paper.map((g) => m.paperDefault(g)),
  checkpoint: q.trained.map((t) => q.grids.map((g) => m.checkpointDefault(g, t))),
  unknown: m.effectiveRatios("checkpoint", q.grids[0], { window: [1, 1, 1], proxy: [1, 1, 1] }),
  grid: q.sizes.map(([w, h, f]) => m.tokenGrid(w, h, f)),
  readout: q.readout.map(([g, window, proxy]) => m.readout(g, { window, proxy })),
  percent: q.readout.map(([g, window, proxy]) => m.percent(m.readout(g, { window, proxy }).ratio)),
  problems: q.readout.map(([g, window, proxy]) => m.problems(g, { window, proxy }, q.largest)),
  choices: q.grids.map((g) => m.choices(g, [g[0], g[1], g[2]], q.largest)),
};
process.stdout.write(JSON.stringify(out));
"""


def pack_module(name: str):
    """Import a module of the pack (relative imports) without its root __init__, which needs ComfyUI."""
    if "ptdit_pack" not in sys.modules:
        root = types.ModuleType("ptdit_pack")
        root.__path__ = [str(REPO_ROOT)]
        sys.modules["ptdit_pack"] = root
    return importlib.import_module(f"ptdit_pack.{name}")


def run_js(query: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        why = "NODE.JS NOT FOUND: the widget maths cannot be compared with Python (install nodejs)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    done = subprocess.run([node, "--input-type=module", "-e", NODE_SCRIPT, MATH_JS.as_uri()],
                          input=json.dumps(query), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def preview_grid(width: int, height: int, frames: int):
    """What the node accepts as a preview size (nodes/latents.py rules), as a token grid."""
    if width % 16 or height % 16 or not 16 <= width <= 4096 or not 16 <= height <= 4096:
        return None
    if frames < 1 or (frames - 1) % 4:
        return None
    return list(latent_grid(height, width, 1 + (frames - 1) // 4))


GRIDS = [latent_grid(h, w, f) for (w, h, f) in [
    (256, 256, 1), (512, 512, 1), (1024, 1024, 1), (2048, 2048, 1), (1216, 832, 1), (832, 1216, 1),
    (1344, 768, 1), (16, 16, 1), (48, 80, 1), (512, 512, 5), (512, 512, 24), (640, 384, 3),
]]
SIDES = (1, 2, 3, 4, 5, 8, 13, 16, 19, 32, 64)


def ratio_table():
    """(grid, window, proxy) triples: tiling and padded windows, one or several proxies, invalid mixes."""
    rows = []
    for grid in GRIDS:
        for wf, wh, ww in itertools.product((1, 2, 4), SIDES, SIDES):
            if wf > grid[0] or wh > grid[1] or ww > grid[2] or (wh * ww) % 7 == 3:
                continue
            for ph, pw in ((wh, ww), (1, 1), (wh // 2 or 1, ww), (3, 2)):
                rows.append((list(grid), [wf, wh, ww], [wf if ph != 3 else 1, ph, pw]))
    return rows


@pytest.fixture(scope="module")
def js_and_query():
    sizes = [(w, h, f) for w in range(16, 4097, 16) for h in (16, 512, 832, 1024, 4096) for f in (1,)]
    sizes += [(w, 512, f) for w in (0, 8, 1000, 512) for f in (0, 1, 2, 5, 6, 17, 93, 257)]
    query = {
        "paper": [[f, r, c] for f in (1,) for r in range(1, 257) for c in range(1, 257)]
                 + [[f, r, c] for f in (2, 3, 4, 5, 65) for r in (1, 8, 32, 64) for c in (4, 64)],
        "grids": [list(g) for g in GRIDS] + [[1, 4, 64], [2, 6, 3]],
        "sizes": sizes,
        "readout": ratio_table(),
        "largest": RATIO_MAX,
        "trained": [{"window": list(w), "proxy": list(p)} for w, p in TRAINED],
    }
    return run_js(query), query


def test_constants_match_python(js_and_query):
    js, _ = js_and_query
    source = (REPO_ROOT / "nodes" / "comfy_model.py").read_text()
    for name in ("VAE_SPATIAL", "VAE_TEMPORAL"):
        assert js["constants"][name] == int(re.search(rf"^{name} = (\d+)", source, re.M).group(1))
    released = PRESETS["qihoo-t2i-1.1b"]
    assert js["constants"]["PATCH"] == released.patch_size == PTDiTConfig().patch_size


def test_paper_table_matches_for_every_grid(js_and_query):
    js, query = js_and_query
    for grid, got in zip(query["paper"], js["paper"]):
        want = WindowSettings.paper_default(tuple(grid))
        assert (got["window"], got["proxy"]) == (list(want.compress), list(want.proxy)), grid


def test_checkpoint_mode_matches_window_options(js_and_query):
    js, query = js_and_query
    options = pack_module("nodes.options")
    for (window, proxy), per_grid in zip(TRAINED, js["checkpoint"]):
        config = dataclasses.replace(PRESETS["qihoo-t2i-1.1b"], compress_ratios=window, proxy_ratios=proxy)
        for grid, got in zip(query["grids"], per_grid):
            want = options.WindowOptions("checkpoint").resolve(config, tuple(grid))
            assert (got["window"], got["proxy"]) == (list(want.compress), list(want.proxy)), (grid, window)
    assert js["unknown"] is None  # no trained ratio given: no guess


def test_token_grid_matches_the_node_rules(js_and_query):
    js, query = js_and_query
    for (w, h, f), got in zip(query["sizes"], js["grid"]):
        assert got == preview_grid(w, h, f), (w, h, f)


def test_readout_matches_complexity(js_and_query):
    js, query = js_and_query
    checked = 0
    for (grid, window, proxy), got in zip(query["readout"], js["readout"]):
        try:
            settings = WindowSettings(tuple(window), tuple(proxy))
        except ValueError:
            continue
        tokens, proxies, per_window = _geometry(tuple(grid), settings)
        assert got["ratio"] == attention_ratio(tuple(grid), settings), (grid, window, proxy)  # bit-exact
        assert (got["paddedTokens"], got["proxyTokens"], got["perWindow"]) == (tokens, proxies, per_window)
        assert got["tokens"] == grid[0] * grid[1] * grid[2]
        assert got["windowCount"] * got["perWindow"] == tokens
        checked += 1
    assert checked > 1000


def test_percent_is_formatted_like_python(js_and_query):
    js, query = js_and_query
    ties = 0
    for (grid, window, proxy), got, text in zip(query["readout"], js["readout"], js["percent"]):
        assert text == f"{100 * got['ratio']:.2f}", (grid, window, proxy)
        scaled = Decimal(100 * got["ratio"]) * 1000  # exact value of the double
        ties += scaled == scaled.to_integral_value() and scaled % 10 == 5
    assert ties > 10  # exact halves (e.g. 15.625 %) occur and round to even as in Python


def test_validity_matches_python(js_and_query):
    """JS ``problems`` is empty exactly when WindowSettings and WindowOptions.check_tiling accept."""
    js, query = js_and_query
    options = pack_module("nodes.options")
    seen = set()
    for (grid, window, proxy), problems in zip(query["readout"], js["problems"]):
        try:
            options.WindowOptions("manual", tuple(window), tuple(proxy)).check_tiling(tuple(grid), RATIO_MAX)
            valid = True
        except ValueError:
            valid = False
        assert (problems == []) == valid, (grid, window, proxy, problems)
        seen.add(valid)
    assert seen == {True, False}


def test_choices_are_exactly_the_valid_values(js_and_query):
    js, query = js_and_query
    for grid, got in zip(query["grids"], js["choices"]):
        for axis in range(3):
            assert got["window"][axis] == [d for d in range(1, min(grid[axis], RATIO_MAX) + 1)
                                           if grid[axis] % d == 0]
        assert got["proxy"][0] == [grid[0]]


def test_tiling_error_names_input_value_and_allowed_values():
    options = pack_module("nodes.options")
    manual = options.WindowOptions("manual", (1, 8, 8), (1, 8, 8))
    manual.check_tiling((1, 64, 64), RATIO_MAX)
    with pytest.raises(ValueError, match=r"window_w=8 does not divide the 76 token columns .*"
                                         r"allowed: \[1, 2, 4, 19, 38\]"):
        manual.check_tiling((1, 52 * 2, 76), RATIO_MAX)
    options.WindowOptions("auto").check_tiling((1, 52, 76), RATIO_MAX)  # only manual ratios are checked
