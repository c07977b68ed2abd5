"""Evidence for docs/comfyui_internals.md: the core contracts, exercised through stock nodes.

A toy MODEL (built without checkpoint detection) and a toy 5D video VAE come from
tests/host/testkit/ptdit_testkit (probe_model, probe_vae); stock KSampler / VAEDecode / VAEDecodeTiled / VAEEncode /
SaveImage drive them.
"""
from __future__ import annotations

import json
import math
import uuid

import pytest

pytestmark = pytest.mark.host


def _report(result, node="report"):
    return json.loads(result.outputs[node]["text"][0])


def _sample_prompt(tag, seed, shift=3.0, steps=2, cfg=2.0, pos_tokens=5, neg_tokens=3):
    return {
        "model": {"class_type": "PTDiTProbeModel", "inputs": {"shift": shift}},
        "opt": {"class_type": "PTDiTProbeSetOption", "inputs": {"model": ["model", 0], "value": tag}},
        "pos": {"class_type": "PTDiTProbeConditioning", "inputs": {"tokens": pos_tokens, "with_mask": True}},
        "neg": {"class_type": "PTDiTProbeConditioning", "inputs": {"tokens": neg_tokens, "with_mask": True}},
        "latent": {"class_type": "EmptyHunyuanLatentVideo",
                   "inputs": {"width": 64, "height": 48, "length": 5, "batch_size": 1}},
        "sampler": {"class_type": "KSampler",
                    "inputs": {"model": ["opt", 0], "seed": seed, "steps": steps, "cfg": cfg,
                               "sampler_name": "euler", "scheduler": "simple",
                               "positive": ["pos", 0], "negative": ["neg", 0],
                               "latent_image": ["latent", 0], "denoise": 1.0}},
        "report": {"class_type": "PTDiTProbeReport", "inputs": {"latent": ["sampler", 0]}},
    }


def test_flow_model_built_without_detection_samples_with_stock_ksampler(comfy_host):
    tag = uuid.uuid4().hex
    result = comfy_host.run(_sample_prompt(tag, seed=11), timeout=180)
    info = _report(result)
    records = [r for r in info["records"] if r["probe_option"] == {"value": tag}]
    # 2 steps x (cond, uncond); different token counts -> CONDRegular cannot batch them together.
    assert len(records) == 4, info["records"]
    first = records[0]
    # EmptyHunyuanLatentVideo gives 16 channels; fix_empty_latent_channels cuts it to the
    # latent format's 4 channels. T = (5 - 1) // 4 + 1 = 2, H = 48 / 8, W = 64 / 8.
    assert first["x_shape"] == [1, 4, 2, 6, 8]
    assert info["latent_shape"] == [1, 4, 2, 6, 8]
    # ModelType.FLOW: timesteps = sigma * multiplier; the first sigma of "simple" is sigma_max = 1.
    assert first["timesteps"] == [1000.0]
    assert first["sigmas"] == [1.0]
    shift = 3.0
    sigma2 = shift * 0.5 / (1 + (shift - 1) * 0.5)  # time_snr_shift(3, 0.5) = 0.75
    assert records[2]["timesteps"][0] == pytest.approx(sigma2 * 1000, abs=1e-2)
    assert sorted(tuple(r["cond_or_uncond"]) for r in records[:2]) == [(0,), (1,)]
    assert sorted(r["context_shape"][1] for r in records[:2]) == [3, 5]
    assert all(r["kwargs"]["attention_mask"] in ([1, 3], [1, 5]) for r in records)
    keys = set(first["transformer_options_keys"])
    assert {"cond_or_uncond", "uuids", "sigmas", "sample_sigmas", "ptdit_probe"} <= keys
    # The *instance* unet_config (the dict given to BASE(...) + unet_extra_config + "dtype") is what
    # reaches __init__ as kwargs; the class-level unet_config ({"image_model": ...}) only matches.
    assert first["unknown_init_kwargs"] == []
    assert first["operations"].startswith("comfy.ops.")


def test_same_token_counts_are_batched_into_one_forward(comfy_host):
    tag = uuid.uuid4().hex
    result = comfy_host.run(_sample_prompt(tag, seed=12, steps=1, pos_tokens=4, neg_tokens=4),
                            timeout=180)
    records = [r for r in _report(result)["records"] if r["probe_option"] == {"value": tag}]
    assert len(records) == 1, records
    assert records[0]["x_shape"][0] == 2 and sorted(records[0]["cond_or_uncond"]) == [0, 1]
    assert records[0]["kwargs"]["attention_mask"] == [2, 4]


def test_model_sampling_shift_node_changes_timesteps(comfy_host):
    """Stock ModelSamplingSD3 swaps model_sampling on a clone; our FLOW model follows it."""
    tag = uuid.uuid4().hex
    prompt = _sample_prompt(tag, seed=13, steps=2)
    prompt["shift"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["opt", 0], "shift": 1.0}}
    prompt["sampler"]["inputs"]["model"] = ["shift", 0]
    records = [r for r in _report(comfy_host.run(prompt, timeout=180))["records"]
               if r["probe_option"] == {"value": tag}]
    later = [r["timesteps"][0] for r in records if r["timesteps"][0] < 999]
    assert later and later[0] == pytest.approx(500.0, abs=1e-2)  # shift 1: sigma = t


def test_video_vae_subclass_with_stock_decode_encode_nodes(comfy_host):
    prompt = {
        "vae": {"class_type": "PTDiTProbeVAE", "inputs": {}},
        "latent": {"class_type": "EmptyHunyuanLatentVideo",
                   "inputs": {"width": 64, "height": 48, "length": 9, "batch_size": 1}},
        # The stock empty latent has 16 channels; KSampler cuts an all-zero latent to the probe
        # model's 4 latent channels (comfy.sample.fix_empty_latent_channels), which the VAE takes.
        "model": {"class_type": "PTDiTProbeModel", "inputs": {"shift": 3.0}},
        "sampler": {"class_type": "KSampler",
                    "inputs": {"model": ["model", 0], "seed": 5, "steps": 1, "cfg": 1.0,
                               "sampler_name": "euler", "scheduler": "simple",
                               "positive": ["pos", 0], "negative": ["pos", 0],
                               "latent_image": ["latent", 0], "denoise": 1.0}},
        "pos": {"class_type": "PTDiTProbeConditioning", "inputs": {"tokens": 2, "with_mask": False}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 0], "vae": ["vae", 0]}},
        "tiled": {"class_type": "VAEDecodeTiled",
                  "inputs": {"samples": ["sampler", 0], "vae": ["vae", 0], "tile_size": 64,
                             "overlap": 32, "temporal_size": 8, "temporal_overlap": 4}},
        "encode": {"class_type": "VAEEncode", "inputs": {"pixels": ["decode", 0], "vae": ["vae", 0]}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["decode", 0], "filename_prefix": "ptdit_vae"}},
        "report": {"class_type": "PTDiTProbeReport",
                   "inputs": {"latent": ["sampler", 0], "image": ["tiled", 0], "latent2": ["encode", 0]}},
    }
    result = comfy_host.run(prompt, timeout=180)
    info = _report(result)
    t_lat = (9 - 1) // 4 + 1
    assert info["latent_shape"] == [1, 4, t_lat, 6, 8]
    # decode: [B, C, T, H, W] -> IMAGE [B*T, H, W, C] with T = 4 * (t_lat - 1) + 1
    assert info["image_shape"] == [4 * (t_lat - 1) + 1, 48, 64, 3]
    # encode: IMAGE frames become the time axis of one video: [1, C, T_pix, H, W] -> latent
    assert info["latent2_shape"] == [1, 4, math.floor((9 + 3) / 4), 6, 8]
    assert len(comfy_host.output_files(result, node_id="save")) == 9
