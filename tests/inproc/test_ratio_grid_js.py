"""The Proxy Ratio widget's token grid of a target size (web/ptdit_ratio_math.js ``tokenGrid``, run in
node) is the node's own: the sizes PTDiTProxyRatio.validate_inputs accepts and the grid its
``preview_grid`` computes (nodes/patches.py, imported with ComfyUI in this process)."""
from __future__ import annotations

import pytest

from tests.widget_math import run_math_js

RATIOS = dict(window_f=1, window_h=1, window_w=1, proxy_f=1, proxy_h=1, proxy_w=1)
SIZES = [(w, h, 1) for w in range(16, 4097, 16) for h in (16, 512, 832, 1024, 4096)]
SIZES += [(w, 512, f) for w in (0, 8, 1000, 512) for f in (0, 1, 2, 5, 6, 17, 93, 257)]


@pytest.fixture(scope="module")
def patches(comfy_inproc):
    return comfy_inproc.pack("nodes.patches")


def node_grid(patches, width: int, height: int, frames: int) -> list | None:
    """The node's preview token grid, or None where the node refuses the size."""
    size = dict(width=width, height=height, frames=frames)
    try:
        accepted = patches.PTDiTProxyRatio.validate_inputs(mode="auto", **RATIOS, **size) is True
    except ValueError:
        accepted = False
    return list(patches.preview_grid(**size)) if accepted else None


def test_token_grid_matches_the_node(patches):
    grids = run_math_js("q.map(([w, h, f]) => m.tokenGrid(w, h, f))", SIZES)
    assert len(grids) == len(SIZES) > 1000
    refused = 0
    for size, got in zip(SIZES, grids):
        assert got == node_grid(patches, *size), size
        refused += got is None
    assert 0 < refused < len(SIZES)  # both outcomes occur: sizes off the 16 px step, 0, bad frame counts
