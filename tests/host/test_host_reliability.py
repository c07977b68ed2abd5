"""Hostile inputs against the real server: every one gets a specific, clear error, never a black
"success" or a raw internal; the server stays up and the next valid prompt draws an image.

Cases: crafted model files (tests/host/crafted_files.py), API values (NaN, inf, unknown combo
choices of every PT-DiT node, out-of-range numbers), graph faults and an interrupt. The valid
prompt is the demo T2I model at 64 px, 1 step, with a fresh seed (so ComfyUI's cache cannot
answer it). ``soak``: 30 valid prompts, the server's RSS may not grow by more than 5 %.
"""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pytest
import requests
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from scripts.demo import runtime as demo
from scripts import make_workflows as mw
from tests.harness.results import Submission
from tests.host import crafted_files

pytestmark = pytest.mark.host

SEEDS = itertools.count(1000)
OUR_ERRORS = ("ValueError", "InputError", "NonFiniteError", "CheckpointError")


def demo_graph(seed: int, steps: int = 1) -> dict:
    """T5 -> text -> demo T2I model -> PT-DiT T2I sampler (64 px) -> VAE decode -> SaveImage."""
    return {
        "t5": {"class_type": "PTDiTT5Loader", "inputs": {"text_encoder": mw.DEMO_TEXT_ENCODER, "tokenizer": "auto",
                                                          "device": "default", "dtype": "default",
                                                          "offload_when_idle": True}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["t5", 0], "text": mw.DEMO_T2I_PROMPT}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["t5", 0], "text": ""}},
        "load": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": demo.dit_name("t2i"),
                                                              "weight_dtype": "default"}},
        "ratio": {"class_type": "PTDiTProxyRatio", "inputs": {
            "model": ["load", 0], "mode": "checkpoint", "window_f": 1, "window_h": 2, "window_w": 2,
            "proxy_f": 1, "proxy_h": 2, "proxy_w": 2, "width": 64, "height": 64, "frames": 1}},
        "window": {"class_type": "PTDiTWindowAttention", "inputs": {"model": ["ratio", 0], "window_attention": True,
                                                                    "shift_window": "checkpoint"}},
        "vae": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": mw.DEMO_VAE, "tiling": "auto"}},
        "s": {"class_type": "PTDiTSamplerT2I", "inputs": {
            "model": ["window", 0], "positive": ["pos", 0], "negative": ["neg", 0], "width": 64, "height": 64,
            "batch_size": 1, "seed": seed, "steps": steps, "cfg": 4.0, "sampler_name": "euler",
            "scheduler": "ptdit_rflow"}},
        "dec": {"class_type": "VAEDecode", "inputs": {"samples": ["s", 0], "vae": ["vae", 0]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["dec", 0], "filename_prefix": "ptdit_rel"}},
    }


def sampler_graph(graph: dict, class_type: str, **inputs) -> dict:
    """The demo graph with a T2V or T2MV sampler (one latent frame per output image)."""
    node = graph["s"]
    node["class_type"] = class_type
    node["inputs"].update(inputs)
    if class_type == "PTDiTSamplerT2MV":
        graph["dec"]["inputs"]["samples"] = ["s", 1]
    return graph


@dataclass
class Case:
    """A hostile change to the demo graph; ``outcome`` "rejected" (at /prompt), "failed" (node error
    when run) or "interrupted"; ``node`` the node id the error must name, ``text`` words its one error
    must hold (``once=False``: ComfyUI's own check reports it too); ``combo`` (node class, input) that
    an unknown-choice case covers."""
    id: str
    change: Callable[[dict], dict]
    outcome: str
    node: Optional[str] = None
    text: tuple = ()
    once: bool = True
    combo: Optional[tuple] = None


def inputs(node: str, **values) -> Callable[[dict], dict]:
    def change(graph):
        graph[node]["inputs"].update(values)
        return graph
    return change


def model_file(name: str, weight_dtype: str = "default") -> Callable[[dict], dict]:
    return inputs("load", model_name=f"rel_{name}", weight_dtype=weight_dtype)


def bad_file(case_id: str, name: str, *words: str) -> Case:
    """The loader given a crafted file: a node error naming the file and holding ``words``."""
    return Case(case_id, model_file(name), "failed", "load", (f"rel_{name}", *words))


def bogus(node: str, name: str) -> Case:
    class_type = demo_graph(0)[node]["class_type"]
    return Case(f"unknown-{class_type}-{name}", inputs(node, **{name: "bogus"}), "rejected", node,
                (name, "'bogus'", "not one of"), combo=(class_type, name))


def bogus_sampler(class_type: str, name: str, **sizes) -> Case:
    def change(graph):
        return sampler_graph(graph, class_type, **{name: "bogus"}, **sizes)
    first_choice = {"sampler_name": "'euler'", "scheduler": "'ptdit_rflow'"}[name]
    return Case(f"unknown-{class_type}-{name}", change, "rejected", "s", (name, "'bogus'", "not one of", first_choice),
                combo=(class_type, name))


def rewire(node: str, **links) -> Callable[[dict], dict]:
    return inputs(node, **{k: list(v) for k, v in links.items()})


def drop(node: str, name: str) -> Callable[[dict], dict]:
    def change(graph):
        del graph[node]["inputs"][name]
        return graph
    return change


def add_node(node: str, spec: dict, **rewired) -> Callable[[dict], dict]:
    def change(graph):
        graph[node] = spec
        for target, link in rewired.items():
            at, name = target.split(".")
            graph[at]["inputs"][name] = list(link)
        return graph
    return change


DEMO_WEIGHTS = len(crafted_files.demo_t2i()[0])
T2V = dict(frames=5, fps=8.0)
T2MV = dict(views=4)
NAN = float("nan")
INF = float("inf")

CASES = [
    # crafted files (PT-DiT Model Loader): a node error naming the file and what is wrong with it
    bad_file("random-bytes-pt", "random_bytes.pt", "not a PyTorch checkpoint"),
    bad_file("zero-bytes-pt", "zero_bytes.pt", "empty"),
    bad_file("malicious-pickle", "malicious_zip.pt", "would run code", "weights-only", "for safety"),
    Case("malicious-pickle-vae", inputs("vae", vae_name="rel_malicious_zip.pt"), "failed", "vae",
         ("rel_malicious_zip.pt", "would run code", "weights-only", "for safety")),
    bad_file("truncated-pt", "truncated.pt", "damaged or truncated"),
    bad_file("list-pt", "list_of_tensors.pt", "list", "not a dict"),
    bad_file("zero-bytes-safetensors", "zero_bytes.safetensors", "not a readable checkpoint"),
    bad_file("random-bytes-safetensors", "random_bytes.safetensors", "not a readable checkpoint"),
    bad_file("huge-header", "huge_header.safetensors", "not a readable checkpoint"),
    bad_file("truncated-safetensors", "truncated.safetensors", "not a readable checkpoint"),
    bad_file("nan-weights", "all_nan.safetensors", "NaN or infinite", f"{DEMO_WEIGHTS} of {DEMO_WEIGHTS} weights"),
    bad_file("inf-weight", "one_inf.safetensors", "NaN or infinite", f"1 of {DEMO_WEIGHTS} weights", "proj_out.bias"),
    bad_file("bad-json-metadata", "bad_json.safetensors", "'ptdit_config' metadata field is not valid JSON"),
    bad_file("json-list-metadata", "json_list.safetensors", "'ptdit_config'", "JSON object"),
    bad_file("bad-config-value", "bad_config_value.safetensors", "'ptdit_config'", "num_layers"),
    bad_file("unknown-config-key", "unknown_config_key.safetensors", "unknown PT-DiT config keys: colour"),
    bad_file("vae-file-as-model", "vae_keys.safetensors", "not a PT-DiT checkpoint"),
    bad_file("wrong-shape", "wrong_shape.safetensors", "wrong shape", "proj_out.bias"),
    bad_file("missing-weight", "missing_weight.safetensors", "missing", "proj_out.weight"),
    Case("fp16-overflow", model_file("fp16_overflow.safetensors", "fp16"), "failed", "s",
         ("rel_fp16_overflow.safetensors", "NaN or infinite values at step 1 of 1", "fp16 overflow")),
    # API values: refused at /prompt, naming the input
    Case("cfg-nan", inputs("s", cfg=NAN), "rejected", "s", ("cfg=nan", "not a finite number")),
    Case("cfg-inf", inputs("s", cfg=INF), "rejected", "s", ("cfg=inf", "not a finite number")),
    Case("cfg-minus-inf", inputs("s", cfg=-INF), "rejected", "s", ("cfg=-inf", "not a finite number")),
    Case("fps-nan", lambda g: sampler_graph(g, "PTDiTSamplerT2V", **{**T2V, "fps": NAN}), "rejected", "s",
         ("fps=nan", "not a finite number")),
    Case("steps-nan", inputs("s", steps=NAN), "rejected", "s", ("steps",), once=False),
    Case("steps-zero", inputs("s", steps=0), "rejected", "s", ("steps=0", "outside 1..200")),
    Case("seed-negative", inputs("s", seed=-1), "rejected", "s", ("seed=-1", "outside")),
    Case("width-too-small", inputs("s", width=0), "rejected", "s", ("width=0", "outside")),
    Case("window-too-big", inputs("ratio", window_h=65), "rejected", "ratio", ("window_h=65", "outside 1..64")),
    Case("grid-columns-zero", add_node("grid", {"class_type": "PTDiTImageGrid",
                                                "inputs": {"images": ["dec", 0], "columns": 0}},
                                       **{"save.images": ("grid", 0)}), "rejected", "grid", ("columns=0", "outside")),
    bogus_sampler("PTDiTSamplerT2I", "sampler_name"),
    bogus_sampler("PTDiTSamplerT2I", "scheduler"),
    bogus_sampler("PTDiTSamplerT2V", "sampler_name", **T2V),
    bogus_sampler("PTDiTSamplerT2V", "scheduler", **T2V),
    bogus_sampler("PTDiTSamplerT2MV", "sampler_name", **T2MV),
    bogus_sampler("PTDiTSamplerT2MV", "scheduler", **T2MV),
    bogus("load", "model_name"),
    Case("model-path-traversal", inputs("load", model_name="../../../etc/passwd"), "rejected", "load",
         ("model_name", "not one of")),
    bogus("load", "weight_dtype"),
    bogus("ratio", "mode"),
    bogus("window", "shift_window"),
    bogus("vae", "vae_name"),
    bogus("vae", "tiling"),
    Case("vae-memory-limit-negative", inputs("vae", memory_limit_gb=-1.0), "rejected", "vae",
         ("memory_limit_gb=-1", "outside")),
    bogus("t5", "text_encoder"),
    bogus("t5", "tokenizer"),
    bogus("t5", "device"),
    bogus("t5", "dtype"),
    Case("unknown-PTDiTEmptyImageLatent-resolution",
         add_node("empty", {"class_type": "PTDiTEmptyImageLatent", "inputs": {
             "resolution": "bogus", "width": 64, "height": 64, "batch_size": 1}}, **{"dec.samples": ("empty", 0)}),
         "rejected", "empty", ("resolution", "'bogus'", "not one of"), combo=("PTDiTEmptyImageLatent", "resolution")),
    Case("unknown-PTDiTLoraLoader-lora_name",
         add_node("lora", {"class_type": "PTDiTLoraLoader", "inputs": {
             "model": ["load", 0], "lora_name": "bogus", "strength_model": 1.0}}, **{"ratio.model": ("lora", 0)}),
         "rejected", "lora", ("lora_name", "'bogus'", "not one of"), combo=("PTDiTLoraLoader", "lora_name")),
    Case("impossible-proxy-ratio", inputs("ratio", mode="manual", proxy_h=3), "rejected", "ratio",
         ("proxy ratio p_h=3 must divide the window's p_h=2",)),
    # graph faults
    Case("vae-wired-as-model", rewire("s", model=("vae", 0)), "rejected", "s", ("model", "VAE", "MODEL")),
    Case("missing-model-input", drop("s", "model"), "rejected", "s", ("Required input is missing", "model")),
    Case("unknown-node-type", add_node("x", {"class_type": "PTDiTNoSuchNode", "inputs": {}}), "rejected", None,
         ("PTDiTNoSuchNode",)),
    Case("bad-link", inputs("s", model=["load"]), "rejected", "s", ("Bad linked input", "model")),
    Case("non-ptdit-model", add_node("probe", {"class_type": "PTDiTProbeModel", "inputs": {"shift": 3.0}},
                                     **{"s.model": ("probe", 0)}), "failed", "s", ("needs a PT-DiT MODEL",)),
    Case("wrong-caption-width", add_node("cond", {"class_type": "PTDiTTestConditioning", "inputs": {
        "seed": 1, "tokens": 6, "kept": 4, "channels": 24}}, **{"s.positive": ("cond", 0), "s.negative": ("cond", 0)}),
         "failed", "s", ("expects T5 text states of shape",)),
    Case("window-larger-than-latent", inputs("ratio", mode="manual", window_h=8, window_w=8, proxy_h=8,
                                             proxy_w=8, width=None, height=None, frames=None),
         "failed", "s", ("larger than the 4 token rows",)),
    Case("bad-frame-count", lambda g: sampler_graph(g, "PTDiTSamplerT2V", frames=6, fps=8.0), "failed", "s",
         ("frames must be 1 + 4k",)),
    Case("interrupt", inputs("s", steps=200), "interrupted"),
]


def _drop_none(graph: dict) -> dict:
    for node in graph.values():
        node["inputs"] = {k: v for k, v in node["inputs"].items() if v is not None}
    return graph


@pytest.fixture(scope="module")
def crafted(comfy_host):
    paths = crafted_files.write_all(comfy_host.model_path("ptdit", "rel").parent)
    crafted_files.WRITERS["malicious_zip.pt"](comfy_host.model_path("vae", "rel_malicious_zip.pt"))
    yield paths
    for folder in ("ptdit", "vae"):
        assert not (comfy_host.models_dir / folder / crafted_files.MALICE_MARKER).exists(), \
            "a malicious pickle ran its code"


def valid_image(comfy_host) -> np.ndarray:
    """Run the valid demo prompt (fresh seed); its PNG as (H, W, 3) uint8."""
    result = comfy_host.run(demo_graph(next(SEEDS)), timeout=300)
    (path,) = comfy_host.output_files(result, node_id="save")
    return np.asarray(Image.open(path).convert("RGB"))


def submit(comfy_host, graph: dict) -> Submission:
    """``POST /prompt`` with NaN / Infinity written as JavaScript does (``requests`` refuses them)."""
    body = json.dumps({"prompt": graph, "client_id": comfy_host.client_id}, allow_nan=True)
    answer = requests.post(comfy_host.url + "/prompt", data=body, timeout=60,
                           headers={"Content-Type": "application/json"})
    data = answer.json()
    if answer.status_code == 400:
        return Submission(False, None, data.get("error") or {}, data.get("node_errors") or {})
    answer.raise_for_status()
    return Submission(True, data["prompt_id"], {}, data.get("node_errors") or {})


def error_texts(errors: list) -> list[str]:
    return [f"{e.get('message')}: {e.get('details')}" for e in errors]


def check_rejected(submission, case: Case) -> None:
    assert not submission.ok, f"{case.id}: a bad prompt was queued"
    if case.node is None:  # the prompt as a whole
        assert all(word in str(submission.error) for word in case.text), submission.error
        return
    errors = submission.node_errors[case.node]["errors"]
    texts = error_texts(errors)
    assert len(errors) == 1 or not case.once, f"{case.id}: reported {len(errors)} times: {texts}"
    assert any(all(word in text for word in case.text) for text in texts), texts
    assert all("Traceback" not in t for t in texts), texts


def check_failed(comfy_host, submission, case: Case) -> None:
    assert submission.ok, f"{case.id}: refused at /prompt: {submission.node_errors}"
    result = comfy_host.wait(submission.prompt_id, timeout=300)
    assert not result.ok and result.error is not None, f"{case.id}: {result.describe()}"
    assert result.error["node_id"] == case.node, result.describe()
    assert result.error["exception_type"].split(".")[-1] in OUR_ERRORS, result.describe()
    message = result.error["exception_message"]
    assert all(word in message for word in case.text), result.describe()


def check_interrupted(comfy_host, submission) -> None:
    comfy_host.wait_running(submission.prompt_id)
    deadline = time.monotonic() + 120
    while not comfy_host.events(submission.prompt_id, "progress") and time.monotonic() < deadline:
        time.sleep(0.1)
    comfy_host.interrupt(submission.prompt_id)
    result = comfy_host.wait(submission.prompt_id, timeout=120)
    assert result.interrupted and not result.ok, result.messages


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_error_and_the_server_keeps_drawing(comfy_host, crafted, case):
    graph = _drop_none(case.change(demo_graph(next(SEEDS))))
    submission = submit(comfy_host, graph)
    if case.outcome == "rejected":
        check_rejected(submission, case)
    elif case.outcome == "failed":
        check_failed(comfy_host, submission, case)
    else:
        check_interrupted(comfy_host, submission)
    assert comfy_host.running and comfy_host.system_stats()["system"]["comfyui_version"]
    assert valid_image(comfy_host).max() > 0, "the valid prompt after the bad one saved a black image"


def test_enough_cases_and_every_combo_of_every_node_is_covered(comfy_host):
    assert len(CASES) >= 40
    from tests.host.test_host_nodes import pack_nodes

    info = comfy_host.object_info()
    combos = {(node, name) for node in pack_nodes() for group in ("required", "optional")
              for name, spec in info[node]["input"].get(group, {}).items()
              if isinstance(spec[0], list) or spec[0] == "COMBO"}
    covered = {c.combo for c in CASES if c.combo is not None}
    assert len(combos) >= 10 and combos == covered, combos ^ covered


def test_nan_vae_weights_are_a_load_error(comfy_host):
    with safe_open(str(demo.MODELS_DIR / demo.VAE_FILE), framework="pt") as f:
        tensors = {k: torch.full_like(f.get_tensor(k), NAN) for k in f.keys()}
        metadata = dict(f.metadata())
    save_file(tensors, str(comfy_host.model_path("vae", "rel_nan_vae.safetensors")), metadata=metadata)
    graph = demo_graph(next(SEEDS))
    graph["vae"]["inputs"]["vae_name"] = "rel_nan_vae.safetensors"
    result = comfy_host.wait(comfy_host.queue_prompt(graph), timeout=300)
    assert not result.ok and result.error["node_id"] == "vae", result.describe()
    assert "rel_nan_vae.safetensors" in result.error["exception_message"]
    assert "NaN" in result.error["exception_message"]


def test_a_prompt_over_200_tokens_warns_that_it_is_cut(comfy_host):
    graph = demo_graph(next(SEEDS))
    graph["pos"]["inputs"]["text"] = " ".join(["a red square on a blue background"] * 60)
    start = len(comfy_host.current_log())
    comfy_host.run(graph, timeout=300)
    log = comfy_host.current_log()[start:].lower()
    assert "200" in log and ("truncat" in log or "cut" in log), log[-2000:]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.soak
def test_soak_30_prompts_keep_memory_flat(comfy_host):
    """RSS after each of 30 valid prompts; after 5 warm-up prompts it may not grow by more than 5 %."""
    rss = []
    for _ in range(30):
        assert valid_image(comfy_host).max() > 0
        rss.append(rss_kib(comfy_host.proc.pid))
    print("server RSS after each prompt (MiB):", [round(r / 1024) for r in rss])
    baseline = rss[4]
    assert max(rss[5:]) <= baseline * 1.05, f"RSS grew from {baseline} to {max(rss[5:])} KiB: {rss}"
