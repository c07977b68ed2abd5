"""PT-DiT Proxy Ratio in a real ComfyUI: preview inputs, values reaching the MODEL, re-validation.

The widget (web/) only offers valid ratios; these tests send API prompts directly, as a hand-edited
workflow or a script would, and check that bad values are refused with a clear node error before
anything runs. The MODEL is the toy probe model of the testkit; PTDiTProbeModelOptions reports the
window options the Proxy Ratio node put on it.
"""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.host

RATIO = dict(mode="manual", window_f=1, window_h=8, window_w=8, proxy_f=1, proxy_h=8, proxy_w=8)
PREVIEW = dict(width=1024, height=1024, frames=1)


def ratio_prompt(**inputs) -> dict:
    values = {**RATIO, **PREVIEW, **inputs}
    values = {k: v for k, v in values.items() if v is not None}
    return {
        "1": {"class_type": "PTDiTProbeModel", "inputs": {"shift": 3.0}},
        "2": {"class_type": "PTDiTProxyRatio", "inputs": {"model": ["1", 0], **values}},
        "3": {"class_type": "PTDiTProbeModelOptions", "inputs": {"model": ["2", 0]}},
    }


def reported_options(comfy_host, prompt) -> dict:
    result = comfy_host.run(prompt)
    return json.loads(result.outputs["3"]["text"][0])


def test_preview_inputs_are_optional_and_described(comfy_host):
    info = comfy_host.object_info("PTDiTProxyRatio")
    optional = info["input"]["optional"]
    assert list(optional) == ["width", "height", "frames"]
    for name in optional:
        assert "Preview only" in optional[name][1]["tooltip"]
    assert info["input_order"]["required"][:2] == ["model", "mode"]


def test_manual_values_reach_the_model(comfy_host):
    options = reported_options(comfy_host, ratio_prompt(window_h=4, window_w=16, proxy_h=2, proxy_w=16,
                                                        width=768, height=512))
    assert options["mode"] == "manual"
    assert options["window"] == [1, 4, 16] and options["proxy"] == [1, 2, 16]


def test_prompt_without_preview_size_still_runs(comfy_host):
    """API prompts written before the preview inputs existed stay valid."""
    options = reported_options(comfy_host, ratio_prompt(width=None, height=None, frames=None, window_h=16))
    assert options["window"] == [1, 16, 8]


def test_auto_mode_ignores_the_manual_values(comfy_host):
    options = reported_options(comfy_host, ratio_prompt(mode="auto", window_h=7, proxy_h=3))
    assert options["mode"] == "auto" and options["window"] is None


@pytest.mark.parametrize("inputs, message", [
    (dict(window_h=7, proxy_h=7), "window_h=7 does not divide the 64 token rows of the preview size (windows must tile "
                       "the latent); allowed: [1, 2, 4, 8, 16, 32, 64]"),
    (dict(width=1216, height=832), "window_h=8 does not divide the 52 token rows"),
    (dict(window_f=2, proxy_f=2), "window_f=2 does not divide the 1 latent frames"),
    (dict(window_f=2, frames=9), "proxy ratio p_f=1 must equal the window's p_f=2"),
    (dict(proxy_w=3), "proxy ratio p_w=3 must divide the window's p_w=8; allowed: [1, 2, 4, 8]"),
    (dict(frames=6), "frames must be 1 + 4k"),
    (dict(width=1000), "width and height must be multiples of 16 px"),
    (dict(window_h=128, width=2048, height=2048), "window_h=128 is outside 1..64"),
    (dict(height=0), "height=0 is outside 16..4096"),
    (dict(mode="sideways"), "mode: 'sideways' is not one of 'auto', 'checkpoint', 'manual'"),
])
def test_bad_values_get_a_node_error(comfy_host, inputs, message):
    sub = comfy_host.submit(ratio_prompt(**inputs))
    assert not sub.ok, "a bad prompt was queued"
    errors = sub.node_errors["2"]["errors"]
    assert len(errors) == 1 and message in errors[0]["details"], errors  # once, not once per input
    assert sub.node_errors["2"]["class_type"] == "PTDiTProxyRatio"
