"""The official ``ptdit_rflow`` schedule cut for ``denoise`` as core's KSampler cuts its schedules:
the last ``steps`` steps of a schedule of ``int(steps / denoise)`` steps, so that the input is noised
at the shifted time where those steps start. The samplers' use of it runs in tests/host/test_host_redraw.py."""
from __future__ import annotations

import pytest
import torch

from ptdit import flow


@pytest.fixture(scope="module")
def samplers(comfy_inproc):
    return comfy_inproc.pack("nodes.samplers")


@pytest.mark.parametrize("steps, denoise, total", [(10, 0.5, 20), (20, 0.6, 33), (4, 0.3, 13)])
def test_denoise_starts_the_official_schedule_later(samplers, steps, denoise, total):
    height, width, frames = 512, 1024, 17
    sigmas = samplers.official_sigmas(steps, height, width, frames, denoise)
    assert len(sigmas) == steps + 1 and sigmas[-1] == 0
    torch.testing.assert_close(sigmas, samplers.official_sigmas(total, height, width, frames)[-(steps + 1):])
    # the first sigma: the shifted time of step total - steps of the unshifted linear schedule
    start = torch.tensor((1 - (total - steps) / total) * 1000)
    ratio = flow.shift_ratio(height, width, frames)
    torch.testing.assert_close(sigmas[0], (flow.shift_timesteps(start, ratio) / 1000).float())


def test_full_and_zero_denoise(samplers):
    torch.testing.assert_close(samplers.official_sigmas(8, 256, 256, 1, 1.0), samplers.official_sigmas(8, 256, 256, 1))
    assert samplers.official_sigmas(8, 256, 256, 1, 0.0).numel() == 0
