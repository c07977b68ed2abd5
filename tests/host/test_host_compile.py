"""The stock TorchCompileModel node (inductor, CPU) on the demo PT-DiT MODEL, and block patches set
the way extensions set them (``set_model_patch_replace(patch, "dit", "block", i)``).

The demo T2I workflow runs cut to one 64 px sample and ``STEPS`` steps. Compiled and eager images
agree within ``PIXEL_TOL``; a second compiled run (new seed) compiles nothing new. Not timed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts.workflow_api import workflow_to_prompt

pytestmark = pytest.mark.host

WORKFLOW = Path(__file__).resolve().parents[2] / "workflows" / "ptdit_demo_t2i.json"
SAMPLER, DECODE = "8", "9"
STEPS = 4
PIXEL_TOL = 2 / 255  # inductor reorders float32 sums; 8-bit pixels may round the other way


def demo_prompt(comfy_host, seed: int, patch_model=None) -> dict:
    """The demo T2I prompt with one sample, STEPS steps and ``seed``; ``patch_model(prompt, source)``
    may insert nodes between the model and the sampler and returns the sampler's new model input."""
    prompt = workflow_to_prompt(json.loads(WORKFLOW.read_text()), comfy_host.object_info())
    sampler = prompt[SAMPLER]["inputs"]
    sampler.update(batch_size=1, steps=STEPS, seed=seed)
    if patch_model is not None:
        sampler["model"] = patch_model(prompt, sampler["model"])
    for node in [k for k, v in prompt.items() if v["class_type"] in ("PTDiTImageGrid", "ImageScaleBy", "SaveImage")]:
        del prompt[node]
    prompt["save"] = {"class_type": "SaveImage", "inputs": {"images": [DECODE, 0], "filename_prefix": "ptdit_compile"}}
    prompt["stats"] = {"class_type": "PTDiTProbeCompileStats", "inputs": {"latent": [SAMPLER, 0]}}
    return prompt


def run(comfy_host, prompt) -> tuple[np.ndarray, dict]:
    result = comfy_host.run(prompt, timeout=900)
    files = comfy_host.output_files(result, node_id="save")
    assert len(files) == 1, result.describe()
    image = np.asarray(Image.open(files[0]).convert("RGB"), np.float32) / 255
    return image, json.loads(result.outputs["stats"]["text"][0])


def compiled(prompt, source):
    prompt["compile"] = {"class_type": "TorchCompileModel", "inputs": {"model": source, "backend": "inductor"}}
    return ["compile", 0]


def block_patch(block: int, mode: str):
    def insert(prompt, source):
        prompt[f"patch{block}"] = {"class_type": "PTDiTProbeBlockPatch",
                                   "inputs": {"model": source, "block": block, "mode": mode}}
        return [f"patch{block}", 0]
    return insert


def test_torch_compile_model_gives_the_same_image_and_compiles_once(comfy_host):
    eager, _ = run(comfy_host, demo_prompt(comfy_host, seed=5))
    image, warm = run(comfy_host, demo_prompt(comfy_host, seed=5, patch_model=compiled))
    assert warm["graphs"] >= 1, warm  # it really compiled
    assert np.abs(image - eager).max() <= PIXEL_TOL
    again, after = run(comfy_host, demo_prompt(comfy_host, seed=6, patch_model=compiled))
    assert not np.allclose(again, image)
    # After the warm-up run: no new graph (no recompile) and no new graph break.
    assert (after["graphs"], after["graph_breaks"]) == (warm["graphs"], warm["graph_breaks"]), (warm, after)
    print(f"torch.compile warm-up: {warm['graphs']} graphs, {warm['graph_breaks']} graph breaks; "
          f"second run: +0 / +0")


def test_block_replace_patches_run_in_place_of_the_block(comfy_host):
    eager, stats = run(comfy_host, demo_prompt(comfy_host, seed=7))
    calls = len(stats["block_patch_calls"])
    original, stats = run(comfy_host, demo_prompt(comfy_host, seed=7, patch_model=block_patch(1, "original")))
    new_calls = stats["block_patch_calls"][calls:]
    assert len(new_calls) >= STEPS and {c[0] for c in new_calls} == {1}, new_calls  # every step calls it
    _, img, txt, vec = new_calls[0]
    assert len(img) == 3 and img[0] == txt[0] == vec[0] and vec[1:] == [6, img[2]] and txt[2] == img[2]
    assert np.array_equal(original, eager)
    skipped, _ = run(comfy_host, demo_prompt(comfy_host, seed=7, patch_model=block_patch(1, "skip")))
    assert np.abs(skipped - eager).max() > 0.1
