"""Rectified-flow schedule and sampler behaviour beyond the reference fixture."""
from __future__ import annotations

import math

import pytest
import torch

from ptdit import flow


def test_unshifted_schedule_at_512_square():
    # ratio 1 at 512x512 single frame: the plain linear schedule.
    torch.testing.assert_close(flow.rflow_timesteps(4, 512, 512), torch.tensor([1000.0, 750.0, 500.0, 250.0]))


@pytest.mark.parametrize("h, w, frames, expected", [
    (1024, 1024, 1, 2.0), (256, 256, 1, 0.5), (512, 512, 17, math.sqrt(5)), (512, 512, 51, math.sqrt(15)),
    (512, 512, 16, 1.0),  # official: 0 (no denoising at all); clamped to an image's shift
])
def test_shift_ratio(h, w, frames, expected):
    assert flow.shift_ratio(h, w, frames).item() == pytest.approx(expected, rel=1e-6)


def test_shift_matches_comfyui_style_time_shift():
    # t' = r t / (1 + (r - 1) t) is the flow "shift" used by SD3/Flux-style samplers with shift = r.
    t = torch.linspace(0, 1000, 11)
    r = 3.0
    sigma = t / 1000
    torch.testing.assert_close(flow.shift_timesteps(t, r), 1000 * r * sigma / (1 + (r - 1) * sigma))


def test_cfg_scale_one_is_the_conditional_prediction():
    def model(z, t, ctx, mask):
        return torch.cat([z * ctx[:, :1, :1, None], torch.zeros_like(z)], dim=1)

    z = torch.randn(2, 4, 8, 8)
    ctx = torch.tensor([[[2.0]], [[3.0]], [[5.0]], [[7.0]]])
    out = flow.guided_velocity(model, z, torch.tensor(500.0), ctx, None, cfg_scale=1.0)
    torch.testing.assert_close(out, z * torch.tensor([2.0, 3.0])[:, None, None, None])
    guided = flow.guided_velocity(model, z, torch.tensor(500.0), ctx, None, cfg_scale=4.0)
    torch.testing.assert_close(guided, z * (torch.tensor([5.0, 7.0]) + 4 * (torch.tensor([2.0, 3.0]) - torch.tensor([5.0, 7.0])))[:, None, None, None])


def test_euler_sampler_reaches_the_data_for_an_exact_velocity():
    """With the true velocity of a straight path (x0 - noise), Euler lands on x0 at t = 0."""
    x0, noise = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    steps = []
    out = flow.euler_sample(lambda z, t: x0 - noise, noise, flow.rflow_timesteps(7, 1024, 768),
                            callback=lambda i, z: steps.append(i))
    torch.testing.assert_close(out, x0, atol=1e-5, rtol=1e-5)
    assert steps == list(range(7))


def test_zero_steps_is_an_error():
    with pytest.raises(ValueError, match="num_steps"):
        flow.rflow_timesteps(0, 512, 512)
