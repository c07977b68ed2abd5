"""Memory estimates: the meta-device simulation follows real runs and bounds them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ptdit.vae.config import CausalVAEConfig
from ptdit.vae.memory import (SAFETY_FACTOR, LiveTensorBytes, choose_tiling, decode_bytes_per_pixel,
                              encode_bytes_per_pixel, peak_bytes)
from ptdit.vae.tiling import ExactTiling, LowMemoryTiling
from tests.unit.vae_tiny import TINY, one_thread, tiny_vae  # noqa: F401 (autouse fixture)

REPO = Path(__file__).resolve().parents[2]

TILINGS = [None, ExactTiling(tile=2), ExactTiling(tile=2, lean=True), LowMemoryTiling(tile=2, halo=1, blend=1),
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


RSS_PROBE = """
import sys, torch
torch.set_num_threads(1)
from ptdit.vae.tiling import ExactTiling, LowMemoryTiling
from tests.unit.vae_tiny import tiny_vae
vae = tiny_vae()
def rss(key):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))
for shape, encode, tiling in eval(sys.argv[1]):
    x = torch.randn(shape)
    run = vae.encode_moments if encode else vae.decode_raw
    with torch.no_grad():
        run(x[..., :64, :64] if encode else x[..., :8, :8], None)  # load kernels and code pages first
        base = rss("VmRSS:")
        open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from here
        out = run(x, tiling)
    print(rss("VmHWM:") - base)
    del x, out
"""
RSS_NOISE = 8 * 2**20  # page-granular RSS, lazily mapped code: a few MiB either way
RSS_CASES = {"decode": ((1, 4, 1, 64, 64), False, None),
             "decode_low_memory": ((1, 4, 1, 64, 64), False, LowMemoryTiling(tile=32)),
             "encode": ((1, 3, 9, 256, 256), True, None),
             "encode_exact": ((1, 3, 9, 256, 256), True, ExactTiling(16))}


@pytest.fixture(scope="module")
def peak_rss():
    """Peak resident bytes each RSS case adds in a real run, measured in one fresh process with
    glibc returning freed blocks at once (independent of the tensor counter)."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", RSS_PROBE, repr(list(RSS_CASES.values()))], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return dict(zip(RSS_CASES, map(int, done.stdout.split())))


@pytest.mark.parametrize("case", RSS_CASES)
def test_estimate_matches_the_peak_rss_of_a_real_run(peak_rss, case):
    """The estimate bounds the measured peak with the safety factor and is at most 1.5x above it
    (the tiled decode is dominated by the whole-size head, like the untiled one)."""
    shape, encode, tiling = RSS_CASES[case]
    measured, estimate = peak_rss[case], peak_bytes(TINY, shape, torch.float32, encode, tiling)
    assert measured > 30 * 2**20  # large enough to rise above the noise
    assert measured <= estimate * SAFETY_FACTOR + RSS_NOISE
    assert estimate <= 1.5 * measured


PADDING_SHARE = (8 + 2) ** 2 / 8 ** 2  # a 3x3 conv's zero-padded copy of an 8x8 latent map


def test_bytes_per_pixel_scale_with_pixels_and_dtype():
    """Activations are channels x frames x H x W elements of the working dtype: the per-pixel figure
    (measured on 8x8 latents) times the pixels bounds a larger call from above, by at most the
    larger border share of padded convs at 8x8; bf16 halves it."""
    released = CausalVAEConfig.released()
    for frames in (1, 3):
        out_frames = (frames - 1) * released.temporal_factor + 1
        shape = (1, released.embed_dim, frames, 16, 24)  # 128 x 192 px
        actual = peak_bytes(released, shape, torch.float32, encode=False)
        per_pixel = decode_bytes_per_pixel(released, torch.float32, frames)
        assert actual <= per_pixel * out_frames * 128 * 192 <= PADDING_SHARE * actual
        assert decode_bytes_per_pixel(released, torch.bfloat16, frames) == pytest.approx(per_pixel / 2, rel=1e-3)
    actual = peak_bytes(released, (1, 3, 5, 128, 192), torch.float32, encode=True)
    assert actual <= encode_bytes_per_pixel(released, torch.float32, 5) * 5 * 128 * 192 <= PADDING_SHARE * actual


@pytest.mark.parametrize("shape, encode", [((1, 4, 5, 64, 64), False), ((1, 4, 1, 128, 128), False),
                                           ((1, 3, 17, 512, 512), True), ((1, 3, 1, 1024, 1024), True)],
                         ids=["decode_17x512", "decode_1024", "encode_17x512", "encode_1024"])
def test_released_vae_fits_a_4_gib_working_budget(shape, encode):
    """A 17-frame 512² clip and a 1024² image, both ways, within 4 GiB above the weights, and
    exactly (untiled or exact tiles: no seams, no estimated statistics)."""
    released, budget = CausalVAEConfig.released(), 4 * 2**30
    tiling = choose_tiling(released, shape, torch.float32, budget, encode)
    assert tiling is None or isinstance(tiling, ExactTiling)
    assert peak_bytes(released, shape, torch.float32, encode, tiling) * SAFETY_FACTOR <= budget
    # tiled exactly when the untiled call would not fit
    assert (tiling is None) == (peak_bytes(released, shape, torch.float32, encode) * SAFETY_FACTOR <= budget)
