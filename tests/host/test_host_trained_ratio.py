"""The trained-ratio route (GET /ptdit/trained_ratio) and the Proxy Ratio node's UI output, over HTTP.

The route answers for names ComfyUI lists in the PT-DiT Model Loader's folders only, from the
file's safetensors header; anything else (path traversal, absolute paths, files of other model
folders) is a 404. The expected ratios are read from the files themselves, not written down here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ptdit.checkpoint import read_safetensors_metadata
from ptdit.loader import config_from_metadata
from tests.host.helpers import combo_options

pytestmark = pytest.mark.host

DEMO = Path(__file__).resolve().parents[2] / "demo_models" / "ptdit"
ROUTES = ("/ptdit/trained_ratio", "/api/ptdit/trained_ratio")


def ask(comfy_host, name: str, route: str = ROUTES[0]):
    return comfy_host.get(route, params={"model_name": name})


def file_ratios(path: Path) -> dict:
    config = config_from_metadata(read_safetensors_metadata(path))
    return {"window": list(config.compress_ratios), "proxy": list(config.proxy_ratios)}


@pytest.mark.parametrize("route", ROUTES)
def test_demo_models_answer_their_stored_ratios(comfy_host, route):
    spec = comfy_host.object_info("PTDiTModelLoader")["input"]["required"]["model_name"]
    listed = [n for n in combo_options(spec) if n.startswith("ptdit_demo_")]
    assert len(listed) == 3
    for name in listed:
        answer = ask(comfy_host, name, route)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"model_name": name, "known": True, **file_ratios(DEMO / name)}


def test_files_without_a_stored_config_are_unknown(comfy_host):
    bare = comfy_host.model_path("diffusion_models", "ptdit_bare.safetensors")
    save_file({"pos_embed.proj.weight": torch.zeros(8, 4, 2, 2)}, str(bare))
    pickled = comfy_host.model_path("diffusion_models", "ptdit_bare.pt")
    torch.save({"pos_embed.proj.weight": torch.zeros(8, 4, 2, 2)}, pickled)
    for path, why in ((bare, "no ptdit_config metadata"), (pickled, "pickled checkpoint stores no config")):
        answer = ask(comfy_host, path.name).json()
        assert answer["known"] is False and why in answer["reason"], answer
        assert "window" not in answer


@pytest.mark.parametrize("name", [
    "", "../../../etc/passwd", "/etc/passwd", "ptdit/../ptdit_demo_t2i.safetensors",
    "..%2Fptdit_demo_t2i.safetensors", "ptdit_demo_vae.safetensors", "nonexistent.safetensors"])
def test_names_outside_the_model_lists_are_refused(comfy_host, name):
    answer = ask(comfy_host, name)
    assert answer.status_code == 404, answer.text
    assert "is not a file of models/ptdit or models/diffusion_models" in answer.json()["error"]


def test_the_node_reports_the_trained_ratio_of_the_model_it_ran_on(comfy_host):
    name = "ptdit_demo_t2i.safetensors"
    result = comfy_host.run({
        "1": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": name, "weight_dtype": "fp32"}},
        "2": {"class_type": "PTDiTProxyRatio", "inputs": {
            "model": ["1", 0], "mode": "checkpoint", "window_f": 1, "window_h": 8, "window_w": 8,
            "proxy_f": 1, "proxy_h": 8, "proxy_w": 8}},
        "3": {"class_type": "PTDiTProbeModelOptions", "inputs": {"model": ["2", 0]}},
    })
    assert result.outputs["2"] == {"ptdit_trained": [{"model_name": name, "known": True, **file_ratios(DEMO / name)}]}
    assert json.loads(result.outputs["3"]["text"][0])["mode"] == "checkpoint"
