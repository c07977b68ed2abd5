"""The widget's maths (web/ptdit_ratio_math.js, run in node) gives the same numbers as the Python side.

Compared exhaustively where it is cheap (the paper's table for every grid up to 256 x 256 tokens)
and on a table of grids x ratios for the read-out (attention cost, proxy tokens, windows, padding)
and the choices. Also checks nodes/options.py's tiling rule, which is pure Python but lives in the
ComfyUI adapter package. The token grid of a target size is checked against the Proxy Ratio node
itself in tests/inproc/test_ratio_grid_js.py (that node needs ComfyUI).
"""
from __future__ import annotations

import importlib
import dataclasses
import itertools
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest

from ptdit import PRESETS, PTDiTConfig, WindowSettings
from ptdit.complexity import _geometry, attention_ratio, latent_grid
from ptdit.vae.config import SPATIAL_FACTOR, TEMPORAL_FACTOR
from tests.widget_math import run_math_js

REPO_ROOT = Path(__file__).resolve().parents[2]
RATIO_MAX = 64
# Trained (window, proxy) ratios of checkpoint-mode cases: the released model's, the demo's, others.
TRAINED = [((1, 8, 8), (1, 8, 8)), ((1, 2, 2), (1, 2, 2)), ((4, 16, 16), (4, 8, 4)), ((1, 8, 8), (1, 4, 8))]

OUTPUTS = """{
  constants: { VAE_SPATIAL: m.VAE_SPATIAL, VAE_TEMPORAL: m.VAE_TEMPORAL, PATCH: m.PATCH },
  paper: q.paper.map((g) => m.paperDefault(g)),
  checkpoint: q.trained.map((t) => q.grids.map((g) => m.checkpointDefault(g, t))),
  unknown: m.effectiveRatios("checkpoint", q.grids[0], { window: [1, 1, 1], proxy: [1, 1, 1] }),
  readout: q.readout.map(([g, window, proxy]) => m.readout(g, { window, proxy })),
  percent: q.readout.map(([g, window, proxy]) => m.percent(m.readout(g, { window, proxy }).ratio)),
  problems: q.readout.map(([g, window, proxy]) => m.problems(g, { window, proxy }, q.largest)),
  choices: q.grids.map((g) => m.choices(g, [g[0], g[1], g[2]], q.largest)),
}"""


def pack_module(name: str):
    """Import a module of the pack (relative imports) without its root __init__, which needs ComfyUI."""
    if "ptdit_pack" not in sys.modules:
        root = types.ModuleType("ptdit_pack")
        root.__path__ = [str(REPO_ROOT)]
        sys.modules["ptdit_pack"] = root
    return importlib.import_module(f"ptdit_pack.{name}")


def paired(asked: list, answered: list, at_least: int):
    """(query item, JS answer) pairs; fails if JS answered another number of items or too few were asked."""
    assert len(asked) >= at_least, f"only {len(asked)} cases"
    assert len(answered) == len(asked), f"JS answered {len(answered)} of {len(asked)} cases"
    return zip(asked, answered)


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
    query = {
        "paper": [[f, r, c] for f in (1,) for r in range(1, 257) for c in range(1, 257)]
                 + [[f, r, c] for f in (2, 3, 4, 5, 65) for r in (1, 8, 32, 64) for c in (4, 64)],
        "grids": [list(g) for g in GRIDS] + [[1, 4, 64], [2, 6, 3]],
        "readout": ratio_table(),
        "largest": RATIO_MAX,
        "trained": [{"window": list(w), "proxy": list(p)} for w, p in TRAINED],
    }
    return run_math_js(OUTPUTS, query), query


def test_constants_match_python(js_and_query):
    js, _ = js_and_query
    assert (js["constants"]["VAE_SPATIAL"], js["constants"]["VAE_TEMPORAL"]) == (SPATIAL_FACTOR, TEMPORAL_FACTOR)
    released = PRESETS["qihoo-t2i-1.1b"]
    assert js["constants"]["PATCH"] == released.patch_size == PTDiTConfig().patch_size


def test_paper_table_matches_for_every_grid(js_and_query):
    js, query = js_and_query
    for grid, got in paired(query["paper"], js["paper"], at_least=256 * 256):
        want = WindowSettings.paper_default(tuple(grid))
        assert (got["window"], got["proxy"]) == (list(want.window), list(want.proxy)), grid


def test_checkpoint_mode_matches_window_options(js_and_query):
    js, query = js_and_query
    options = pack_module("nodes.options")
    for (window, proxy), per_grid in paired(TRAINED, js["checkpoint"], at_least=len(TRAINED)):
        config = dataclasses.replace(PRESETS["qihoo-t2i-1.1b"], compress_ratios=window, proxy_ratios=proxy)
        for grid, got in paired(query["grids"], per_grid, at_least=len(GRIDS)):
            want = options.WindowOptions("checkpoint").resolve(config, tuple(grid))
            assert (got["window"], got["proxy"]) == (list(want.window), list(want.proxy)), (grid, window)
    assert js["unknown"] is None  # no trained ratio given: no guess


def test_readout_matches_complexity(js_and_query):
    js, query = js_and_query
    checked = 0
    for (grid, window, proxy), got in paired(query["readout"], js["readout"], at_least=1000):
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
    assert len(js["percent"]) == len(js["readout"])
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
    for (grid, window, proxy), problems in paired(query["readout"], js["problems"], at_least=1000):
        try:
            options.WindowOptions("manual", tuple(window), tuple(proxy)).check_tiling(tuple(grid), RATIO_MAX)
            valid = True
        except ValueError:
            valid = False
        assert (problems == []) == valid, (grid, window, proxy, problems)
        seen.add(valid)
    assert seen == {True, False}


def accepted(check) -> bool:
    try:
        check()
    except ValueError:
        return False
    return True


def test_choices_are_exactly_the_valid_values(js_and_query):
    """Window choices per axis are the sides check_tiling accepts; proxy choices (for a window as large
    as the grid) are the ratios WindowSettings accepts; both within the inputs' 1..RATIO_MAX."""
    js, query = js_and_query
    options = pack_module("nodes.options")

    def on_axis(base, axis, value):
        return tuple(value if i == axis else b for i, b in enumerate(base))

    def tiles(grid, axis, side):
        window = on_axis((1, 1, 1), axis, side)
        options.WindowOptions("manual", window, window).check_tiling(grid, RATIO_MAX)

    for grid, got in paired([tuple(g) for g in query["grids"]], js["choices"], at_least=len(GRIDS)):
        sides = range(1, RATIO_MAX + 1)
        assert got["window"] == [[v for v in sides if accepted(lambda: tiles(grid, axis, v))] for axis in range(3)]
        assert got["proxy"] == [[v for v in sides if accepted(lambda: WindowSettings(grid, on_axis(grid, axis, v)))]
                                for axis in range(3)], grid


def test_tiling_error_names_input_value_and_allowed_values():
    options = pack_module("nodes.options")
    manual = options.WindowOptions("manual", (1, 8, 8), (1, 8, 8))
    manual.check_tiling((1, 64, 64), RATIO_MAX)
    with pytest.raises(ValueError, match=r"window_w=8 does not divide the 76 token columns .*"
                                         r"allowed: \[1, 2, 4, 19, 38\]"):
        manual.check_tiling((1, 52 * 2, 76), RATIO_MAX)
    options.WindowOptions("auto").check_tiling((1, 52, 76), RATIO_MAX)  # only manual ratios are checked
