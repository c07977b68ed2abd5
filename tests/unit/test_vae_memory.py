"""Memory estimates: the meta-device simulation follows real runs and bounds them."""
from __future__ import annotations

import pytest
import torch

from ptdit.vae_config import CausalVAEConfig
from ptdit.vae_memory import (SAFETY_FACTOR, LiveTensorBytes, decode_bytes_per_pixel, encode_bytes_per_pixel,
                              peak_bytes)
from ptdit.vae_tiling import ExactTiling, LowMemoryTiling
from tests.unit.vae_tiny import TINY, one_thread, tiny_vae  # noqa: F401 (autouse fixture)

TILINGS = [None, ExactTiling(tile=2), LowMemoryTiling(tile=2, halo=1, blend=1),
           LowMemoryTiling(tile=2, halo=1, blend=1, frames=1)]


@pytest.mark.parametrize("tiling", TILINGS, ids=lambda t: type(t).__name__ + str(getattr(t, "frames", "")))
@pytest.mark.parametrize("shape, encode", [((1, 4, 3, 4, 4), False), ((1, 3, 5, 32, 32), True)])
def test_estimate_bounds_the_real_peak(shape, encode, tiling):
    vae = tiny_vae()
    x = torch.randn(shape)
    tracker = LiveTensorBytes()
    with torch.no_grad(), tracker:
        (vae.encode_moments if encode else vae.decode_raw)(x, tiling)
    estimate = peak_bytes(TINY, shape, torch.float32, encode, tiling)
    if tiling is None:
        assert estimate == tracker.peak  # same code path, shapes only
    assert tracker.peak <= estimate * SAFETY_FACTOR
    assert estimate <= 2.5 * tracker.peak  # conservative, most so when one tile is nearly the input


def test_bytes_per_pixel_follow_dtype_and_frames():
    released = CausalVAEConfig.released()
    image = decode_bytes_per_pixel(released, torch.float32)
    assert 1000 < image < 10_000  # a few KiB per output pixel
    assert decode_bytes_per_pixel(released, torch.bfloat16) == pytest.approx(image / 2, rel=0.05)
    assert 0.5 * image < decode_bytes_per_pixel(released, torch.float32, frames=3) < 2 * image
    assert 500 < encode_bytes_per_pixel(released, torch.float32) < 10_000
