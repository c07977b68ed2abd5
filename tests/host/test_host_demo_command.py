"""The README's main job: ``scripts/run_demo.py`` (what ``scripts/demo.sh`` runs once the environment
is ready) starts its own real ComfyUI, runs the demo T2I workflow and prints where the PNG is."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts import make_workflows as mw
from scripts.run_demo import customise

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]


def test_demo_command_prints_the_png_it_saved(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scripts.run_demo", "--out", str(tmp_path), "--seed", "7"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    images = [Path(p) for p in re.findall(r"^image: (.+)$", done.stdout, re.M)]
    assert len(images) == 1 and images[0].is_file() and images[0].is_relative_to(tmp_path), done.stdout
    picture = np.asarray(Image.open(images[0]).convert("RGB"))
    assert picture.shape == (64 * mw.DEMO_ZOOM, 64 * mw.DEMO_ZOOM * mw.DEMO_BATCH, 3)
    assert picture.std() > 10  # a drawing, not a flat or black image
    assert "step 20/20" in done.stdout  # the sampler's progress is shown


def test_demo_command_names_the_workflows_when_asked_for_a_missing_one(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scripts.run_demo", "--out", str(tmp_path), "--workflow", "nope"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no workflow 'nope'" in done.stderr and "ptdit_demo_t2i" in done.stderr


def test_customise_sets_prompt_and_seed_of_every_sampler():
    prompt = customise(mw.demo_ratio_sweep(), "a blue square on a red background, bottom left", 5)
    samplers = [n for n in prompt.values() if n["class_type"] == "PTDiTSamplerT2I"]
    assert len(samplers) == 3 and {n["inputs"]["seed"] for n in samplers} == {5}
    assert prompt["2"]["inputs"]["text"] == "a blue square on a red background, bottom left"
    assert prompt["3"]["inputs"]["text"] == ""  # the negative prompt is left alone
    assert {n["inputs"]["weight_dtype"] for n in prompt.values() if n["class_type"] == "PTDiTModelLoader"} == {"default"}


def test_customise_sets_the_weight_dtype_of_every_model_loader():
    prompt = customise(mw.demo_ratio_sweep(), None, None, "fp8_e4m3fn")
    loaders = [n for n in prompt.values() if n["class_type"] == "PTDiTModelLoader"]
    assert loaders and {n["inputs"]["weight_dtype"] for n in loaders} == {"fp8_e4m3fn"}
