"""Image-to-image and video-to-video on the PT-DiT samplers in a real ComfyUI: ``latent_image`` and
``denoise``, against the plain sampler and against the stock KSampler's denoise."""
from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from ptdit import PTDiT, PTDiTConfig
from tests.host.helpers import model_and_text_nodes

pytestmark = pytest.mark.host

MODEL_FILE = "ptdit_redraw.safetensors"
CAPTION = 24
SAMPLING = {"seed": 3, "steps": 4, "cfg": 3.0, "sampler_name": "euler", "scheduler": "ptdit_rflow"}
T2V = {"frames": 5, "fps": 8.0}


@pytest.fixture(scope="module")
def model_file(comfy_host):
    torch.manual_seed(0)
    config = PTDiTConfig(num_heads=2, head_dim=16, num_layers=2, caption_channels=CAPTION,
                         compress_ratios=(1, 2, 2), proxy_ratios=(1, 2, 2), sample_size=16)
    save_file(PTDiT(config).state_dict(), str(comfy_host.model_path("diffusion_models", MODEL_FILE)),
              metadata={"ptdit_config": json.dumps(config.to_dict())})
    return MODEL_FILE


def graph(model_file: str, class_type: str = "PTDiTSamplerT2I", source: dict | None = None, **redraw) -> dict:
    """A sampler ("first", seed 9) whose latents the sampler "s" re-draws with ``redraw`` inputs;
    both saved ("save_first", "save")."""
    size = {"width": 64, "height": 48, "batch_size": 1, **(T2V if class_type == "PTDiTSamplerT2V" else {})}
    common = {"model": ["load", 0], "positive": ["pos", 0], "negative": ["neg", 0], **size}
    return {
        **model_and_text_nodes(model_file, CAPTION),
        "first": {"class_type": class_type, "inputs": {**common, **SAMPLING, "seed": 9, **(source or {})}},
        "s": {"class_type": class_type, "inputs": {**common, **SAMPLING, "latent_image": ["first", 0], **redraw}},
        "save_first": {"class_type": "SaveLatent", "inputs": {"samples": ["first", 0], "filename_prefix": "first"}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["s", 0], "filename_prefix": "redraw"}},
    }


def latents(comfy_host, prompt: dict) -> dict:
    result = comfy_host.run(prompt, timeout=300)
    return {node: load_file(str(comfy_host.output_files(result, node_id=node, kind="latents")[0]))["latent_tensor"]
            for node in ("save_first", "save")}


@pytest.mark.parametrize("class_type", ["PTDiTSamplerT2I", "PTDiTSamplerT2V"])
def test_denoise_0_returns_the_input_and_1_draws_as_without_it(comfy_host, model_file, class_type):
    unchanged = latents(comfy_host, graph(model_file, class_type, denoise=0.0))
    assert torch.equal(unchanged["save"], unchanged["save_first"])
    redrawn = latents(comfy_host, graph(model_file, class_type, denoise=1.0))
    plain = graph(model_file, class_type)
    del plain["s"]["inputs"]["latent_image"]
    expected = latents(comfy_host, plain)["save"]
    # The schedule starts at sigma = 1 up to float rounding: (1 - sigma) of the input may remain.
    assert torch.allclose(redrawn["save"], expected, rtol=0, atol=1e-5 * expected.abs().max())
    half = latents(comfy_host, graph(model_file, class_type, denoise=0.5))["save"]
    source = unchanged["save_first"]
    assert 0 < (half - source).norm() < (redrawn["save"] - source).norm()


def test_denoise_with_a_stock_scheduler_matches_the_stock_ksampler(comfy_host, model_file):
    """With ComfyUI's schedulers the sampler adds the noise as KSampler does: the same re-draw as
    ModelSamplingSD3 at the official shift for the size, then KSampler at that denoise."""
    prompt = graph(model_file, scheduler="simple", denoise=0.6)
    ours = latents(comfy_host, prompt)["save"]
    prompt["shift"] = {"class_type": "ModelSamplingSD3",
                       "inputs": {"model": ["load", 0], "shift": math.sqrt(64 * 48 / 512 ** 2)}}
    prompt["s"] = {"class_type": "KSampler",
                   "inputs": {"model": ["shift", 0], "positive": ["pos", 0], "negative": ["neg", 0],
                              "latent_image": ["first", 0], **SAMPLING, "scheduler": "simple", "denoise": 0.6}}
    assert torch.allclose(latents(comfy_host, prompt)["save"], ours, rtol=0, atol=1e-5 * ours.abs().max())


def test_video_latent_of_other_length_is_refused_naming_the_frames(comfy_host, model_file):
    prompt = graph(model_file, "PTDiTSamplerT2V", source={"frames": 9}, denoise=0.5)
    result = comfy_host.run(prompt, timeout=300, check=False)
    assert not result.ok and result.error["node_id"] == "s", result.describe()
    message = result.error["exception_message"]
    assert "latent frames (frames=5): latent_image has 3, the inputs give 2" in message, message
