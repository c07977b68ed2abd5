"""The PT-DiT nodes inside a real ComfyUI: registration, workflows, errors, interrupt, parity."""
from __future__ import annotations

import json
import re
import shutil
import time
import zlib

import pytest
import torch
from safetensors.torch import load_file, save_file

from ptdit import PTDiT, PTDiTConfig
from tests.host.helpers import pack_nodes
from tests.reference_io import reference_files, require
from tests.unit.test_help_pages import help_page, section

pytestmark = pytest.mark.host

MODEL_FILE = "ptdit_tiny_test.safetensors"
CAPTION = 24


@pytest.fixture(scope="module")
def tiny_model_file(comfy_host):
    torch.manual_seed(0)
    config = PTDiTConfig(num_heads=2, head_dim=16, num_layers=2, caption_channels=CAPTION,
                         compress_ratios=(1, 4, 4), proxy_ratios=(1, 4, 4), sample_size=16)
    model = PTDiT(config)
    path = comfy_host.model_path("diffusion_models", MODEL_FILE)
    save_file(model.state_dict(), str(path), metadata={"ptdit_config": json.dumps(config.to_dict())})
    return MODEL_FILE


def _graph(model_file, sampler_node: dict, *, ratio: dict | None = None, window: dict | None = None,
           save_latent: bool = True) -> dict:
    """Loader -> [ProxyRatio] -> [WindowAttention] -> sampler (id "s") -> SaveLatent."""
    prompt = {
        "load": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": model_file, "weight_dtype": "default"}},
        "pos": {"class_type": "PTDiTTestConditioning", "inputs": {"seed": 1, "tokens": 6, "kept": 4, "channels": CAPTION}},
        "neg": {"class_type": "PTDiTTestConditioning", "inputs": {"seed": 2, "tokens": 6, "kept": 1, "channels": CAPTION}},
    }
    model = ["load", 0]
    if ratio is not None:
        prompt["ratio"] = {"class_type": "PTDiTProxyRatio", "inputs": {"model": model, **ratio}}
        model = ["ratio", 0]
    if window is not None:
        prompt["window"] = {"class_type": "PTDiTWindowAttention", "inputs": {"model": model, **window}}
        model = ["window", 0]
    sampler_node = json.loads(json.dumps(sampler_node))
    sampler_node["inputs"].update(model=model, positive=["pos", 0], negative=["neg", 0])
    prompt["s"] = sampler_node
    if save_latent:
        prompt["save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["s", 0], "filename_prefix": "ptdit_test"}}
    return prompt


SAMPLING = {"seed": 3, "steps": 2, "cfg": 4.0, "sampler_name": "euler", "scheduler": "ptdit_rflow"}
MANUAL = {"mode": "manual", "window_f": 1, "window_h": 2, "window_w": 2, "proxy_f": 1, "proxy_h": 1, "proxy_w": 1}


def test_every_node_is_registered_with_category_name_and_tooltips(comfy_host):
    info = comfy_host.object_info()
    expected = pack_nodes()
    assert len(expected) >= 10
    for node_id in expected:
        assert node_id in info, f"{node_id} missing from /object_info"
        node = info[node_id]
        assert node["category"].startswith("PT-DiT/"), node_id
        assert node["display_name"].startswith("PT-DiT "), node_id
        assert node["description"], node_id
        for group in ("required", "optional"):
            for name, spec in node["input"].get(group, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_help_pages_match_the_registered_nodes(comfy_host):
    """web/docs/<node>.md carries the node's display name and names each of its inputs and outputs."""
    info = comfy_host.object_info()
    for node_id in pack_nodes():
        node, page = info[node_id], help_page(node_id)
        assert page.splitlines()[0] == f"# {node['display_name']}", node_id
        inputs = {name for group in ("required", "optional") for name in node["input"].get(group, {})}
        assert set(re.findall(r"\*\*(\w+)\*\*", section(page, "Inputs"))) == inputs, node_id
        outputs = {name.lower() for name in node["output_name"]}  # 0.3.75 names T2MV's "latent" LATENT
        assert {name.lower() for name in re.findall(r"\*\*(\w+)\*\*", section(page, "Outputs"))} == outputs, node_id


def test_loader_lists_diffusion_models_and_ptdit_folder(comfy_host, tiny_model_file):
    shutil.copy(comfy_host.model_path("diffusion_models", tiny_model_file),
                comfy_host.model_path("ptdit", "in_ptdit_folder.safetensors"))
    options = comfy_host.object_info("PTDiTModelLoader")["input"]["required"]["model_name"]
    names = options[0] if isinstance(options[0], list) else options[1]["options"]
    assert tiny_model_file in names and "in_ptdit_folder.safetensors" in names


def _progress(comfy_host, prompt_id: str, node_id: str) -> list:
    """(value, max) of every websocket progress update of one node, once the prompt's end has arrived
    there too (the host's ``wait`` reads the history, which the websocket may trail)."""
    deadline = time.monotonic() + 30
    while not comfy_host.events(prompt_id, "execution_success") and time.monotonic() < deadline:
        time.sleep(0.1)
    return [(e["data"]["value"], e["data"]["max"]) for e in comfy_host.events(prompt_id, "progress")
            if e["data"].get("node") == node_id]


def _saved_latent(comfy_host, result):
    files = comfy_host.output_files(result, node_id="save", kind="latents")
    assert files, result.describe()
    return load_file(str(files[0]))["latent_tensor"]


def test_t2i_workflow_with_ratio_and_window_nodes_writes_latents(comfy_host, tiny_model_file):
    graph = _graph(tiny_model_file,
                   {"class_type": "PTDiTSamplerT2I", "inputs": {"width": 64, "height": 48, "batch_size": 2, **SAMPLING}},
                   ratio=MANUAL, window={"window_attention": True, "shift_window": "off"})
    result = comfy_host.run(graph, timeout=300)
    latent = _saved_latent(comfy_host, result)
    assert latent.shape == (2, 4, 6, 8) and torch.isfinite(latent).all() and latent.abs().max() > 0
    # Progress reached the websocket: one update per sampling step.
    steps = SAMPLING["steps"]
    assert _progress(comfy_host, result.prompt_id, "s") == [(i, steps) for i in range(1, steps + 1)]


def test_ratio_and_window_nodes_change_the_result(comfy_host, tiny_model_file):
    base = {"class_type": "PTDiTSamplerT2I", "inputs": {"width": 64, "height": 64, "batch_size": 1, **SAMPLING}}
    outputs = []
    for ratio, window in ((None, None), (MANUAL, None), (None, {"window_attention": False, "shift_window": "off"})):
        result = comfy_host.run(_graph(tiny_model_file, base, ratio=ratio, window=window), timeout=300)
        outputs.append(_saved_latent(comfy_host, result))
    assert not torch.allclose(outputs[0], outputs[1]) and not torch.allclose(outputs[0], outputs[2])


def test_stock_ksampler_and_model_sampling_nodes_drive_the_model(comfy_host, tiny_model_file):
    """Stock KSampler samples the PT-DiT MODEL, and ModelSamplingSD3's shift changes the result."""
    latents = {}
    for shift in (1.0, 2.0):
        graph = _graph(tiny_model_file, {"class_type": "KSampler", "inputs": {
            "latent_image": ["empty", 0], "seed": 5, "steps": 2, "cfg": 3.0, "sampler_name": "euler",
            "scheduler": "simple", "denoise": 1.0}}, ratio={**MANUAL, "mode": "auto"})
        graph["empty"] = {"class_type": "PTDiTEmptyImageLatent",
                          "inputs": {"resolution": "custom", "width": 64, "height": 32, "batch_size": 1}}
        graph["shift"] = {"class_type": "ModelSamplingSD3",
                          "inputs": {"model": graph["s"]["inputs"]["model"], "shift": shift}}
        graph["s"]["inputs"]["model"] = ["shift", 0]
        latents[shift] = _saved_latent(comfy_host, comfy_host.run(graph, timeout=300))
        assert latents[shift].shape == (1, 4, 4, 8) and torch.isfinite(latents[shift]).all()
    change = (latents[2.0] - latents[1.0]).abs().max()
    assert change > 1e-2 * latents[1.0].abs().max(), f"shift 2 vs 1 changed the latent by only {change:.2e}"


def test_video_and_multiview_samplers_and_grid(comfy_host, tiny_model_file):
    video = _graph(tiny_model_file, {"class_type": "PTDiTSamplerT2V", "inputs": {
        "width": 32, "height": 32, "frames": 9, "fps": 12.0, "batch_size": 1, **SAMPLING}}, ratio={**MANUAL, "mode": "auto"})
    assert _saved_latent(comfy_host, comfy_host.run(video, timeout=300)).shape == (1, 4, 3, 4, 4)  # 9 frames -> 1 + 2 latent frames

    views = _graph(tiny_model_file, {"class_type": "PTDiTSamplerT2MV", "inputs": {
        "width": 32, "height": 32, "views": 5, "batch_size": 1, **SAMPLING}}, save_latent=False)
    views["save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["s", 1], "filename_prefix": "views"}}
    views["img"] = {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 5, "color": 255}}
    views["grid"] = {"class_type": "PTDiTImageGrid", "inputs": {"images": ["img", 0], "columns": 3}}
    views["png"] = {"class_type": "SaveImage", "inputs": {"images": ["grid", 0], "filename_prefix": "grid"}}
    result = comfy_host.run(views, timeout=300)
    assert _saved_latent(comfy_host, result).shape == (5, 4, 4, 4)
    from PIL import Image

    with Image.open(comfy_host.output_files(result, node_id="png")[0]) as grid:
        assert grid.size == (48, 16)


@pytest.mark.parametrize("case, expected", [
    ("impossible_ratio", "proxy ratio p_h=3 must divide"),
    ("window_larger_than_latent", "larger than the"),
    ("bad_frames", "frames must be 1 + 4k"),
    ("not_a_ptdit_file", "cannot be loaded as a PT-DiT model"),
])
def test_bad_inputs_give_node_errors_and_the_server_keeps_working(comfy_host, tiny_model_file, case, expected):
    t2i = {"class_type": "PTDiTSamplerT2I", "inputs": {"width": 32, "height": 32, "batch_size": 1, **SAMPLING}}
    model_file = tiny_model_file
    ratio = None
    if case == "impossible_ratio":
        ratio = {**MANUAL, "window_h": 4, "window_w": 4, "proxy_h": 3}
    elif case == "window_larger_than_latent":
        ratio = {**MANUAL, "window_h": 16, "window_w": 16, "proxy_h": 16, "proxy_w": 16}
    elif case == "bad_frames":
        t2i = {"class_type": "PTDiTSamplerT2V", "inputs": {"width": 32, "height": 32, "frames": 6, "fps": 8.0,
                                                             "batch_size": 1, **SAMPLING}}
    elif case == "not_a_ptdit_file":
        model_file = "not_ptdit.safetensors"
        save_file({"encoder.conv_in.weight": torch.zeros(2, 3, 3, 3)},
                  str(comfy_host.model_path("diffusion_models", model_file)))
    submitted = comfy_host.submit(_graph(model_file, t2i, ratio=ratio))
    if case == "impossible_ratio":  # refused when queued (PTDiTProxyRatio.validate_inputs)
        assert not submitted.ok
        assert all(expected in e["details"] for e in submitted.node_errors["ratio"]["errors"])
    else:
        result = comfy_host.wait(submitted.prompt_id, timeout=300)
        assert not result.ok and result.error is not None
        assert expected in result.error["exception_message"], result.describe()
    # The next prompt runs fine.
    # A seed of its own per case, so that ComfyUI's cache cannot answer it without sampling.
    fine = comfy_host.run(_graph(tiny_model_file, {"class_type": "PTDiTSamplerT2I", "inputs": {
        "width": 32, "height": 32, "batch_size": 1, **SAMPLING, "seed": zlib.crc32(case.encode())}}), timeout=300)
    assert fine.ok


def test_missing_model_file_is_refused_when_queued(comfy_host, tiny_model_file):
    graph = _graph("no_such_file.safetensors", {"class_type": "PTDiTSamplerT2I", "inputs": {
        "width": 32, "height": 32, "batch_size": 1, **SAMPLING}})
    submitted = comfy_host.submit(graph)  # refused when queued: not among the loader's choices
    assert not submitted.ok and list(submitted.node_errors) == ["load"]
    (error,) = submitted.node_errors["load"]["errors"]
    assert "model_name: 'no_such_file.safetensors' is not one of '" in error["details"]
    fine = comfy_host.run(_graph(tiny_model_file, {"class_type": "PTDiTSamplerT2I", "inputs": {
        "width": 32, "height": 32, "batch_size": 1, **SAMPLING, "seed": 4242}}), timeout=300)
    assert fine.ok  # the server goes on


def test_interrupt_stops_a_long_sampling_run(comfy_host, tiny_model_file):
    """The interrupt ends sampling before its last step (the latency is measured by
    benchmarks/interrupt_latency.py)."""
    long_run = _graph(tiny_model_file, {"class_type": "PTDiTSamplerT2I", "inputs": {
        "width": 512, "height": 512, "batch_size": 2, **{**SAMPLING, "steps": 200}}})
    prompt_id = comfy_host.queue_prompt(long_run)
    comfy_host.wait_running(prompt_id)
    deadline = time.monotonic() + 120
    while not comfy_host.events(prompt_id, "progress") and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until sampling itself is under way
    comfy_host.interrupt(prompt_id)
    result = comfy_host.wait(prompt_id, timeout=120)
    assert result.interrupted and not result.ok
    progress = comfy_host.events(prompt_id, "progress")
    assert progress and progress[-1]["data"]["value"] < 200


@pytest.mark.parametrize("path", reference_files("ptdit", kind="rflow_sampling"))
def test_reference_sampling_through_comfyui(comfy_host, path):
    """The official RFlow sampler fixtures reproduced by ComfyUI's own Euler sampling with our model,
    within the unit tier's atol of 1e-5 (tests/unit/test_ptdit_reference.py). The same float32 CPU
    maths runs in both; the host adds only ComfyUI's sigma <-> timestep and latent-scale round
    trips. Measured on rflow_sampling (max |output| 4.5): unit tier 1.7e-6, ComfyUI 0.3.75 1.9e-6,
    0.33.0 1.9e-6."""
    path = require(path)
    local = comfy_host.model_path("diffusion_models", path.name)
    shutil.copy(path, local)  # the fixture is also a valid checkpoint (reference config in its metadata)
    shutil.copy(path.with_suffix(".json"), local.with_suffix(".json"))
    result = comfy_host.run({
        "load": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": path.name, "weight_dtype": "fp32"}},
        "run": {"class_type": "PTDiTTestReferenceSampling", "inputs": {"model": ["load", 0], "fixture": str(local)}},
    }, timeout=300)
    report = json.loads(result.outputs["run"]["text"][0])
    print(f"{path.stem} through ComfyUI: max abs error {report['max_abs_error']:.3e}")
    assert report["max_abs_error"] <= 1e-5
