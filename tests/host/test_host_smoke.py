"""The harness itself, on stock ComfyUI nodes and the test-only node packs (tests/host/testkit)."""
from __future__ import annotations

import json
import re
import struct
import time

import pytest
import torch
from safetensors.torch import save_file

from tests.harness.base_dir import PACK_LINK_NAME
from tests.harness.hosts import REPO_ROOT
from tests.harness.results import PromptRejected

pytestmark = pytest.mark.host

PACK_MODULE = f"custom_nodes.{PACK_LINK_NAME}"


def empty_image_prompt(prefix: str, width: int = 64, height: int = 32, color: int = 0x336699):
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": width, "height": height, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def png_size(data: bytes) -> tuple:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_server_is_up_and_pack_imported(comfy_host):
    stats = comfy_host.system_stats()
    assert stats["system"]["comfyui_version"]
    assert stats["devices"], stats
    log = comfy_host.current_log()
    pack_path = str(comfy_host.base_dir / "custom_nodes" / PACK_LINK_NAME)
    # ComfyUI prints "Cannot import <path> module for custom nodes: <exc>" and lists the pack with
    # "(IMPORT FAILED)" in its import-time table when the pack's __init__ raises.
    failed = [line for line in log.splitlines()
              if pack_path in line and ("IMPORT FAILED" in line or "Cannot import" in line)]
    assert not failed, "the pack failed to import:\n" + comfy_host.log_tail()
    assert re.search(r"seconds: " + re.escape(pack_path) + r"\s*$", log, re.M), \
        "the pack is missing from ComfyUI's import-time table:\n" + comfy_host.log_tail()
    assert "Skip " + pack_path not in log, "ComfyUI found no comfy_entrypoint in the pack"
    assert "comfy_entrypoint in " + pack_path not in log, "ComfyUI could not use the pack's comfy_entrypoint"
    assert "[PT-DiT] ComfyUI" not in log, "a tested host was reported as unsupported"


def test_pack_nodes_are_well_formed(comfy_host):
    """Every node the pack registers has a category, a display name and input tooltips."""
    info = comfy_host.object_info()
    ours = {k: v for k, v in info.items() if v.get("python_module") == PACK_MODULE}
    # Found under the pack's module: every "PT-DiT ..." node and no other (the test packs say "PTDiT test").
    named = {k for k, v in info.items() if (v.get("display_name") or "").startswith("PT-DiT ")}
    assert len(ours) >= 10 and set(ours) == named, sorted(set(ours) ^ named)
    for name, node in ours.items():
        assert node["category"], name
        assert node["display_name"], name
        for section in ("required", "optional"):
            for inp, spec in node["input"].get(section, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{name}.{inp} has no tooltip"


def test_empty_image_to_save_image_writes_png(comfy_host):
    result = comfy_host.run(empty_image_prompt("ptdit_smoke", 64, 32))
    files = comfy_host.output_files(result, node_id="2")
    assert len(files) == 1 and files[0].is_file(), result.outputs
    assert files[0].parent == comfy_host.output_dir
    data = files[0].read_bytes()
    assert png_size(data) == (64, 32)
    item = result.outputs["2"]["images"][0]
    assert comfy_host.view(item) == data
    assert any(ev == "execution_success" for ev, _ in result.messages)


def test_invalid_prompt_returns_node_errors_and_server_keeps_working(comfy_host):
    bad = empty_image_prompt("ptdit_bad", width=0)  # EmptyImage.width has min 1
    sub = comfy_host.submit(bad)
    assert not sub.ok and sub.prompt_id is None
    assert sub.error["type"] == "prompt_outputs_failed_validation"
    assert "1" in sub.node_errors
    types = [e["type"] for e in sub.node_errors["1"]["errors"]]
    assert "value_smaller_than_min" in types, sub.node_errors
    assert sub.node_errors["1"]["class_type"] == "EmptyImage"

    with pytest.raises(PromptRejected) as exc:
        comfy_host.queue_prompt({"1": {"class_type": "NoSuchNode_PTDiT", "inputs": {}}})
    # 0.3.75 says "invalid_prompt", 0.33 "missing_node_type": both name the unknown class.
    assert exc.value.error["type"] in ("invalid_prompt", "missing_node_type")
    assert "NoSuchNode_PTDiT" in json.dumps(exc.value.error)

    with pytest.raises(PromptRejected) as exc:
        comfy_host.queue_prompt({"1": {"class_type": "SaveImage",
                                       "inputs": {"filename_prefix": "x"}}})  # no images input
    assert "required_input_missing" in exc.value.error_types("1")

    result = comfy_host.run(empty_image_prompt("ptdit_after_bad"))
    assert comfy_host.output_files(result)[0].is_file()


def test_execution_error_is_reported_and_next_prompt_runs(comfy_host):
    pid = comfy_host.queue_prompt({"1": {"class_type": "PTDiTTestRaise",
                                         "inputs": {"message": "deliberate failure"}}})
    result = comfy_host.wait(pid, timeout=60)
    assert not result.ok and result.status == "error"
    err = result.error
    assert err["node_id"] == "1" and err["node_type"] == "PTDiTTestRaise"
    assert err["exception_type"].endswith("ValueError")
    assert err["exception_message"].strip() == "deliberate failure"  # ComfyUI appends "\n"
    assert any("raise ValueError(message)" in line for line in err["traceback"])  # format_tb lines
    assert "deliberate failure" in result.describe()

    comfy_host.run(empty_image_prompt("ptdit_after_error"))


def test_progress_events_reach_the_websocket(comfy_host):
    result = comfy_host.run({"1": {"class_type": "PTDiTTestSleep",
                                   "inputs": {"steps": 4, "step_seconds": 0.01, "tag": "progress"}}})
    assert result.outputs["1"]["text"] == ["slept 4 progress"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        progress = comfy_host.events(result.prompt_id, "progress")
        if progress and progress[-1]["data"]["value"] == 4:
            break
        time.sleep(0.1)
    assert progress, comfy_host.events(result.prompt_id)
    assert progress[-1]["data"]["max"] == 4 and progress[-1]["data"]["value"] == 4
    assert progress[-1]["data"]["node"] == "1"


def test_interrupt_stops_a_running_prompt(comfy_host):
    """The node stops before its last step (latency: benchmarks/interrupt_latency.py)."""
    pid = comfy_host.queue_prompt({"1": {"class_type": "PTDiTTestSleep",
                                         "inputs": {"steps": 3000, "step_seconds": 0.02,
                                                    "tag": "interrupt"}}})
    comfy_host.wait_running(pid)
    time.sleep(0.3)
    comfy_host.interrupt(pid)
    result = comfy_host.wait(pid, timeout=60)
    assert result.interrupted and not result.ok, result.messages
    assert "1" not in result.outputs  # the node never reached its return
    comfy_host.run(empty_image_prompt("ptdit_after_interrupt"))


def test_new_model_files_are_listed_without_restart(comfy_host):
    tiny = {"w": torch.zeros(2, 2)}
    name = f"ptdit_probe_{time.monotonic_ns()}.safetensors"
    assert name not in comfy_host.models("vae")
    save_file(tiny, str(comfy_host.model_path("vae", name)))
    nested = f"ptdit_sub/{name}"
    save_file(tiny, str(comfy_host.model_path("diffusion_models", nested)))

    assert name in comfy_host.models("vae")
    assert nested in comfy_host.models("diffusion_models")
    vae_choices = comfy_host.object_info("VAELoader")["input"]["required"]["vae_name"][0]
    assert name in vae_choices
    unet_choices = comfy_host.object_info("UNETLoader")["input"]["required"]["unet_name"][0]
    assert nested in unet_choices


def test_v3_nodes_load_both_ways(comfy_host):
    """0.3.75 takes io.ComfyNode classes from a literal NODE_CLASS_MAPPINGS and from comfy_entrypoint."""
    info = comfy_host.object_info()
    literal = info["PTDiTTestV3Literal"]
    assert literal["display_name"] == "PTDiT test: V3 in literal mapping"
    assert literal["category"] == "ptdit_testkit"
    assert literal["description"] == "Returns a + 1."
    assert literal["input"]["required"]["a"][1]["tooltip"] == "the number"
    assert literal["python_module"] == "custom_nodes.ptdit_testkit"
    entry = info["PTDiTTestV3Entry"]
    assert entry["display_name"] == "PTDiT test: V3 via comfy_entrypoint"
    assert entry["python_module"] == "custom_nodes.ptdit_testkit_v3"

    r = comfy_host.run({"1": {"class_type": "PTDiTTestV3Literal", "inputs": {"a": 41}},
                        "2": {"class_type": "PTDiTTestV3Entry", "inputs": {"text": "ok"}}})
    assert r.outputs["1"]["text"] == ["42"]
    assert r.outputs["2"]["text"] == ["OK"]


def test_web_directory_is_served(comfy_host):
    listed = comfy_host.get("/extensions").json()
    prefix = f"/extensions/{PACK_LINK_NAME}/"
    ours = sorted(u for u in listed if u.startswith(prefix))
    web = REPO_ROOT / "web"
    expected = sorted(prefix + p.relative_to(web).as_posix() for p in web.rglob("*.js")) \
        if web.is_dir() else []
    assert ours == expected
    for url in ours:
        r = comfy_host.get(url)
        assert r.status_code == 200, url
    index = comfy_host.get("/")
    assert index.status_code == 200 and "<html" in index.text.lower()


def test_restart_keeps_models_and_outputs(comfy_host):
    """Runs last in this module: a restart is needed only after changing the pack's code."""
    before = set(p.name for p in comfy_host.output_dir.glob("*.png"))
    save_file({"w": torch.zeros(1)}, str(comfy_host.model_path("vae", "ptdit_restart.safetensors")))
    old_port = comfy_host.port
    comfy_host.restart()
    assert comfy_host.running and comfy_host.port
    assert "ptdit_restart.safetensors" in comfy_host.models("vae")
    assert before <= set(p.name for p in comfy_host.output_dir.glob("*.png"))
    comfy_host.run(empty_image_prompt("ptdit_after_restart"))
    assert old_port is not None
