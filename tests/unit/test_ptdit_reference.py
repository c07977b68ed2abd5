"""Parity with the official PT-DiT (MindSpeed-MM PTDiTDiffuser) on every golden fixture.

Tolerance: atol 1e-5 / rtol 1e-5, as justified in the fixtures' README §3 (an independent float32
re-derivation lands at <= 8.3e-7, the float32/float64 gap is ~3e-7 of max|output|).
"""
from __future__ import annotations

import pytest
import torch

from ptdit.reference.dit import from_reference_config
from ptdit import flow
from tests.reference_io import load_fixture, reference_files, require

ATOL = RTOL = 1e-5


def _run_forward(fx):
    model = from_reference_config(fx.config, fx.state_dict)
    t = fx.tensors
    with torch.no_grad():
        return model(t["input.hidden_states"], t["input.timestep"], t["input.encoder_hidden_states"],
                     t["input.encoder_attention_mask"])


def _run_sampler(fx):
    model = from_reference_config(fx.config, fx.state_dict)
    t, request = fx.tensors, fx.sidecar["request"]
    steps = fx.sidecar["sampler"]["num_inference_steps"]
    cfg = fx.sidecar["sampler"]["cfg_scale"]
    timesteps = flow.rflow_timesteps(steps, request["height"], request["width"], request["num_frames"])
    torch.testing.assert_close(timesteps, t["timesteps"], atol=0, rtol=0)
    # Every extra stored schedule is reproduced bit-exactly too (float32 and bf16 size tensors).
    for name, req in fx.sidecar.get("extra_schedules", {}).items():
        got = flow.rflow_timesteps(steps, req["height"], req["width"], req["num_frames"],
                                   kwargs_dtype=getattr(torch, req["model_kwargs_dtype"]))
        torch.testing.assert_close(got, t[name], atol=0, rtol=0, msg=f"schedule {name}")
    seen = []
    with torch.no_grad():
        out = flow.euler_sample(
            lambda z, tt: flow.guided_velocity(model, z, tt, t["input.encoder_hidden_states"],
                                               t["input.encoder_attention_mask"], cfg),
            t["input.z"], timesteps, callback=lambda i, z: seen.append(z))
    # Latents entering step i+1 are what step i produced.
    for i, z in enumerate(seen[:-1]):
        torch.testing.assert_close(z, t["intermediate.latents"][i + 1], atol=ATOL, rtol=RTOL)
    return out


@pytest.mark.parametrize("path", reference_files("ptdit"))
def test_matches_reference(path):
    fx = load_fixture(require(path))
    kind = fx.sidecar.get("kind", "rflow_sampling" if "input.z" in fx.tensors else "forward")
    out = _run_sampler(fx) if kind == "rflow_sampling" else _run_forward(fx)
    expected = fx.tensors["output"]
    assert out.shape == expected.shape
    err = (out - expected).abs().max().item()
    print(f"{fx.name}: max abs error {err:.3e} (max |output| {expected.abs().max().item():.3f})")
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=RTOL)
