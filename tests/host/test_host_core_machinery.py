"""PT-DiT inside current ComfyUI's model machinery, on every host: the golden forward fixtures through
the MODEL the loader builds (as the samplers call it), core's attention override and model wrappers
reaching every attention call and forward, and the stock EasyCache node on the demo model."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from scripts import make_workflows as mw
from scripts.demo import detect
from scripts.demo.evaluate import T2I_FIELDS
from tests.host.test_host_demo import WORKFLOWS, only_file, samples
from tests.host.test_host_nodes import SAMPLING, _graph, tiny_model_file  # noqa: F401  (fixture)
from tests.reference_io import reference_files, require

pytestmark = pytest.mark.host


@pytest.mark.parametrize("weight_dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("path", reference_files("ptdit", kind="forward"))
def test_reference_forward_through_the_loaders_model(comfy_host, path, weight_dtype):
    """Every golden forward fixture (random biases; image_multiproxy: 4 proxies per window) through
    ``BaseModel.apply_model`` of the MODEL the PT-DiT Model Loader builds from the fixture file: within
    the unit tier's 1e-5 in fp32, within 3 % of the largest output with bf16 weights (computed in what
    the host picks for them: float32 on a CPU, measured 0.5e-2 to 0.7e-2)."""
    path = require(path)
    local = comfy_host.model_path("diffusion_models", path.name)
    shutil.copy(path, local)  # the fixture is also a valid checkpoint (reference config in its metadata)
    result = comfy_host.run({
        "load": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": path.name, "weight_dtype": weight_dtype}},
        "run": {"class_type": "PTDiTTestReferenceForward", "inputs": {"model": ["load", 0], "fixture": str(local)}},
    }, timeout=300)
    report = json.loads(result.outputs["run"]["text"][0])
    print(f"{path.stem} ({weight_dtype}, computed in {report['compute_dtype']}) through apply_model: max abs "
          f"error {report['max_abs_error']:.3e} (max |output| {report['max_abs_output']:.3f})")
    if weight_dtype == "fp32":
        assert report["weight_dtype"] == report["compute_dtype"] == "torch.float32"
        assert report["max_abs_error"] <= 1e-5
    else:
        assert report["weight_dtype"] == "torch.bfloat16"
        assert report["max_abs_error"] <= 0.03 * report["max_abs_output"]


def test_attention_override_and_model_wrapper_reach_every_call(comfy_host, tiny_model_file):  # noqa: F811
    """An attention override (``set_model_optimized_attention``) sees every PT-DiT attention call with
    ``block_index`` / ``total_blocks`` set, and a DIFFUSION_MODEL wrapper runs once per model call."""
    steps = 3
    prompt = _graph(tiny_model_file, {"class_type": "PTDiTSamplerT2I",
                                      "inputs": {**SAMPLING, "steps": steps, "width": 64, "height": 64, "batch_size": 1}},
                    save_latent=False)
    prompt["hooks"] = {"class_type": "PTDiTProbeCoreHooks", "inputs": {"model": ["load", 0]}}
    prompt["s"]["inputs"]["model"] = ["hooks", 0]
    prompt["report"] = {"class_type": "PTDiTProbeCoreHooksReport", "inputs": {"latent": ["s", 0]}}
    report = json.loads(comfy_host.run(prompt, timeout=300).outputs["report"]["text"][0])
    forwards = report["wrapper"]
    # cond and uncond share a forward per step, or run one each: never fewer forwards than steps
    assert steps <= forwards <= 2 * steps
    # per block: proxy self-attention, proxy->token, window, shifted window, text
    calls = report["attention"]
    assert len(calls) == forwards * 2 * 5
    assert {(index, total) for index, total, _ in calls} == {(0, 2), (1, 2)}


def _with_easycache(prompt: dict) -> dict:
    """The demo T2I prompt with the stock EasyCache node (defaults) in front of the PT-DiT sampler."""
    sampler = next(k for k, node in prompt.items() if node["class_type"] == "PTDiTSamplerT2I")
    prompt["easycache"] = {"class_type": "EasyCache", "inputs": {"model": prompt[sampler]["inputs"]["model"],
                           "reuse_threshold": 0.2, "start_percent": 0.15, "end_percent": 0.95, "verbose": False}}
    prompt[sampler]["inputs"]["model"] = ["easycache", 0]
    return prompt


def test_easycache_skips_steps_and_the_demo_still_draws_the_prompt(comfy_host):
    """The stock EasyCache node on the demo T2I workflow: it skips steps of the PT-DiT sampler (its own
    log line) and every sample still shows what was asked."""
    from scripts.workflow_api import workflow_to_prompt

    info = comfy_host.object_info()
    if "EasyCache" not in info:
        pytest.fail("this host has no EasyCache node")
    workflow = json.loads((WORKFLOWS / "ptdit_demo_t2i.json").read_text())
    offset = comfy_host.log_end()
    result = comfy_host.run(_with_easycache(workflow_to_prompt(workflow, info)), timeout=600)
    skipped = re.findall(r"EasyCache - skipped (\d+)/(\d+) steps", comfy_host.log_text(offset))
    assert skipped and int(skipped[-1][0]) > 0, comfy_host.log_text(offset)[-3000:]
    images = samples(only_file(comfy_host, result), columns=mw.DEMO_BATCH)
    found = [detect.detect_t2i(image) for image in images]
    right = sum(all(f[k] == mw.DEMO_T2I_LABEL[k] for k in T2I_FIELDS) for f in found)
    assert right == len(images), f"asked for {mw.DEMO_T2I_LABEL}, read {found}"
