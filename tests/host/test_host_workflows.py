"""The shipped example workflows: current with the nodes, covering every node, and runnable.

Each real-model file in ``workflows/`` is converted to an API prompt with the server's own node
definitions and executed on the real host, with tiny random stand-ins saved under the real file
names (the released weights are gigabytes; the stand-ins have the same formats and architectures,
scaled down). The demo workflows run with the shipped demo models in ``test_host_demo.py``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scripts import make_workflows
from scripts.workflow_api import FRONTEND_ONLY, prompt_to_workflow, workflow_to_prompt
import torch

from ptdit.vae.config import CausalVAEConfig
from ptdit.vae.model import CausalVAE
from tests.host.helpers import combo_options, pack_nodes, read_video, write_ptdit, write_t5

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
REAL_MODEL_WORKFLOWS = [p for p in WORKFLOWS if p.stem not in make_workflows.DEMO_WORKFLOWS]
# The VAE stand-in is a plain pickled state dict like the released vae/checkpoint.ckpt, so the loader
# infers it with the released group count (32): the smallest such VAE has 32 channels throughout.
PICKLED_VAE = CausalVAEConfig(hidden_size=32, hidden_size_mult=(1, 1, 1, 1), num_res_blocks=1)


@pytest.fixture(scope="module")
def stand_ins(comfy_host, tmp_path_factory):
    """Tiny weights under the real file names the workflows reference."""
    t5_folder = tmp_path_factory.mktemp("t5")
    write_t5(t5_folder)
    shutil.copy(t5_folder / "model.safetensors", comfy_host.model_path("text_encoders", make_workflows.TEXT_ENCODER))
    write_ptdit(comfy_host.model_path("diffusion_models", make_workflows.TRANSFORMER))
    torch.manual_seed(0)
    torch.save(CausalVAE(PICKLED_VAE).state_dict(), comfy_host.model_path("vae", make_workflows.VAE))


def _pack_widgets(workflow: dict) -> dict:
    return {node["id"]: node["widgets_values"] for node in workflow["nodes"] if node["type"].startswith("PTDiT")}


def _flat(prompt: dict) -> dict:
    """The prompt with inputs of a chosen dynamic-combo option named as on hosts without dynamic
    combos (0.33's SaveVideo ``format.codec`` is 0.3.75's ``codec``)."""
    return {node_id: {**node, "inputs": {k.rsplit(".", 1)[-1]: v for k, v in node["inputs"].items()}}
            for node_id, node in prompt.items()}


def test_workflow_files_are_current(comfy_host):
    """Each committed file, read with this host's node definitions, is the graph scripts/make_workflows.py
    builds: the same nodes, links and input values, and our nodes' widgets exactly as a fresh build
    lays them out. A stock node that gains an input on a newer host changes nothing here."""
    info = comfy_host.object_info()
    assert [p.stem for p in WORKFLOWS] == sorted(make_workflows.WORKFLOWS)
    for path in WORKFLOWS:
        committed = json.loads(path.read_text())
        built = make_workflows.WORKFLOWS[path.stem]()
        stale = f"{path.name} is stale: run scripts/make_workflows.py"
        assert _flat(workflow_to_prompt(committed, info)) == built, stale
        assert _pack_widgets(committed) == _pack_widgets(prompt_to_workflow(built, info)), stale


def test_blueprint_files_are_current(comfy_host):
    """Each blueprint in subgraphs/ holds the graph its builder in scripts/make_workflows.py makes, read
    with this host's node definitions; its exposed inputs feed the widgets named in BLUEPRINTS."""
    info = comfy_host.object_info()
    assert sorted(p.stem for p in (REPO / "subgraphs").glob("*.json")) == sorted(make_workflows.BLUEPRINTS)
    for name, (build, inputs, output, _) in make_workflows.BLUEPRINTS.items():
        (definition,) = json.loads((REPO / "subgraphs" / f"{name}.json").read_text())["definitions"]["subgraphs"]
        links = [[k["id"], k["origin_id"], k["origin_slot"], k["target_id"], k["target_slot"], k["type"]]
                 for k in definition["links"] if k["origin_id"] >= 0 and k["target_id"] >= 0]
        kept = {k[0] for k in links}
        nodes = [{**n, "inputs": [{**i, "link": i["link"] if i["link"] in kept else None} for i in n["inputs"]]}
                 for n in definition["nodes"]]
        assert workflow_to_prompt({"nodes": nodes, "links": links}, info) == build(), f"{name} is stale"
        fed = {(str(k["target_id"]), k["target_slot"]) for k in definition["links"] if k["origin_id"] == -10}
        by_id = {str(n["id"]): n for n in definition["nodes"]}
        assert {(node, by_id[node]["inputs"][slot]["name"]) for node, slot in fed} == set(inputs.values())
        assert [[str(k["origin_id"]), k["origin_slot"]] for k in definition["links"] if k["target_id"] == -20] \
            == [output]


def test_workflows_use_no_deprecated_node(comfy_host):
    """Current ComfyUI warns about (and hides) deprecated nodes: none of ours may use one."""
    info = comfy_host.object_info()
    for path in WORKFLOWS:
        used = {node["type"] for node in json.loads(path.read_text())["nodes"]} - FRONTEND_ONLY
        deprecated = sorted(kind for kind in used if info[kind].get("deprecated"))
        assert not deprecated, f"{path.name} uses deprecated nodes {deprecated}"


def test_every_node_of_the_pack_is_used_by_a_workflow():
    """All but the LoRA loader: neither the pack nor the release ships a PT-DiT LoRA to load."""
    used = {node["type"] for path in WORKFLOWS for node in json.loads(path.read_text())["nodes"]}
    assert pack_nodes() - used == {"PTDiTLoraLoader"}


def test_every_workflow_has_a_demo_version():
    assert sorted(make_workflows.DEMO_VERSIONS) == [p.stem for p in REAL_MODEL_WORKFLOWS]
    assert sorted(make_workflows.DEMO_WORKFLOWS) == sorted(p.stem for p in WORKFLOWS if p not in REAL_MODEL_WORKFLOWS)


def test_model_entries_name_what_the_loaders_list(comfy_host, stand_ins):
    """With the files in place under the names of the workflows' ``models`` entries, the host lists
    each in the entry's folder and the loader that names it offers it (the missing-models dialog
    looks for <directory>/<name>)."""
    info = comfy_host.object_info()
    for path in WORKFLOWS:
        workflow = json.loads(path.read_text())
        for entry in workflow["models"]:
            assert entry["name"] in comfy_host.models(entry["directory"]), (path.name, entry)
            loaders = [(n["type"], n["widgets_values"][0]) for n in workflow["nodes"]
                       if n["type"] in make_workflows.LOADERS and n["widgets_values"][0] == entry["name"]]
            assert loaders, (path.name, entry)
            for loader, name in loaders:
                widget, folder = make_workflows.LOADERS[loader]
                assert folder == entry["directory"]
                assert name in combo_options(info[loader]["input"]["required"][widget])


@pytest.mark.parametrize("path", REAL_MODEL_WORKFLOWS, ids=[p.stem for p in REAL_MODEL_WORKFLOWS])
def test_workflow_runs_on_the_host(comfy_host, stand_ins, path):
    prompt = workflow_to_prompt(json.loads(path.read_text()), comfy_host.object_info())
    result = comfy_host.run(prompt, timeout=900)
    saved = [f for kind in ("images", "latents") for f in comfy_host.output_files(result, kind=kind)]
    assert saved and all(f.is_file() for f in saved), result.describe()
    for sampler in (n["inputs"] for n in prompt.values() if n["class_type"] == "PTDiTSamplerT2V"):
        (video,) = [f for f in saved if f.suffix == ".mp4"]  # Create Video -> Save Video at the sampler's fps
        frames, fps, _ = read_video(video)
        assert frames.shape == (sampler["frames"], sampler["height"], sampler["width"], 3) and fps == sampler["fps"]


def test_workflows_saved_before_clean_prompts_still_convert(comfy_host):
    """A file saved before the T5 nodes' optional ``clean_prompts`` input (one widget value fewer)
    converts to the same prompt without that input; such prompts run with cleaning on
    (test_host_t5_text.py)."""
    info = comfy_host.object_info()
    current = json.loads((REPO / "workflows" / "ptdit_stock_ksampler.json").read_text())
    old = json.loads(json.dumps(current))
    t5_nodes = [node for node in old["nodes"] if node["type"] in ("PTDiTT5Loader", "PTDiTT5TextRules")]
    assert len(t5_nodes) == 2
    for node in t5_nodes:
        assert node["widgets_values"][-1] is True
        node["widgets_values"] = node["widgets_values"][:-1]
    expected = workflow_to_prompt(current, info)
    assert [expected[str(n["id"])]["inputs"].pop("clean_prompts") for n in t5_nodes] == [True, True]
    assert workflow_to_prompt(old, info) == expected


def test_workflows_saved_before_denoise_still_convert(comfy_host):
    """A file saved before the samplers' optional ``denoise`` input (one widget value fewer) converts to
    the same prompt without it; such prompts draw as before (denoise 1, test_host_redraw.py)."""
    info = comfy_host.object_info()
    current = json.loads((REPO / "workflows" / "ptdit_demo_t2v.json").read_text())
    old = json.loads(json.dumps(current))
    (sampler,) = [node for node in old["nodes"] if node["type"] == "PTDiTSamplerT2V"]
    assert sampler["widgets_values"][-1] == 1.0
    sampler["widgets_values"] = sampler["widgets_values"][:-1]
    sampler["inputs"] = [i for i in sampler["inputs"] if i["name"] != "latent_image"]
    expected = workflow_to_prompt(current, info)
    assert expected[str(sampler["id"])]["inputs"].pop("denoise") == 1.0
    assert workflow_to_prompt(old, info) == expected
