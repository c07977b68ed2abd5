"""Tiling schemes: chunk/tile geometry, exactness of ExactTiling, pooled statistics, fallbacks."""
from __future__ import annotations

import pytest
import torch

from ptdit.reference.tiling import ReferenceTiling, reference_chunks
from ptdit.vae.config import CausalVAEConfig
from ptdit.vae.memory import SAFETY_FACTOR, LiveTensorBytes, choose_tiling, peak_bytes
from ptdit.vae.model import CausalVAE
from ptdit.vae.tiling import ExactTiling, LowMemoryTiling, RowBands, _axis_weights, frame_chunks, tile_ranges
from tests.unit.vae_tiny import TINY, one_thread, tiny_reference_vae, tiny_vae  # noqa: F401 (autouse fixture)


def assert_matches(actual, expected, rel=2e-5):
    assert actual.shape == expected.shape
    error = (actual - expected).abs().max().item()
    assert error <= rel * expected.abs().max().item(), f"max abs error {error}"


def test_reference_chunks_share_one_frame():
    assert reference_chunks(4, 3) == [(0, 3), (2, 4)]  # decode_video_tiled
    assert reference_chunks(9, 5) == [(0, 5), (4, 9)]  # encode_video_tiled
    assert reference_chunks(3, 8) == [(0, 3)]
    assert reference_chunks(10, 3) == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 10)]


def test_encode_chunks_start_on_group_boundaries():
    frames = 1 + 4 * 6
    chunks = frame_chunks(frames, core=2, before=1, after=0, group=4)
    cores = [core for _, core in chunks]
    assert cores[0] == (0, 9) and cores[-1][1] == frames
    assert all(a[1] == b[0] for a, b in zip(cores, cores[1:]))  # cores partition the clip
    for (start, stop), (core_start, _) in chunks[1:]:
        assert start % 4 == 0 and core_start - start == 1  # chunk frame 0 = last frame of the group before
        assert (stop - start - 1) % 4 == 0  # 1 + 4k frames


@pytest.mark.parametrize("blend", [0, 16, 32])
def test_cross_fade_weights_sum_to_one(blend):
    size, scale = 50, 8
    total = torch.zeros(size * scale, dtype=torch.float64)
    for (start, stop), core in tile_ranges(size, 16, 8):
        weights = _axis_weights(start * scale, (stop - start) * scale, core, size, blend, lambda i: i * scale)
        assert weights.min() >= 0
        total[start * scale:stop * scale] += weights
    torch.testing.assert_close(total, torch.ones_like(total))


@pytest.mark.parametrize("lean", [False, True], ids=["exact", "lean"])
@pytest.mark.parametrize("shape", [(1, 4, 1, 13, 11), (1, 4, 3, 9, 7)])
def test_exact_tiling_matches_untiled_decode(shape, lean):
    vae = tiny_vae()
    z = torch.randn(shape)
    untiled = vae.decode(z, tiling=None)
    for tile in (2, 3, 4):  # bands of one tile row meet every layer's halo differently
        assert_matches(vae.decode(z, tiling=ExactTiling(tile=tile, storage_device="cpu", lean=lean)), untiled)


def test_lean_tiling_holds_about_the_larger_of_each_layers_input_and_output():
    vae = tiny_vae()
    z = torch.randn(1, 4, 3, 16, 16)

    def live_peak(tiling):
        tracker = LiveTensorBytes()
        with torch.no_grad(), tracker:
            vae.decode_raw(z, tiling)
        return tracker.peak

    exact, lean = live_peak(ExactTiling(tile=4)), live_peak(ExactTiling(tile=4, lean=True))
    assert lean < 0.6 * exact < 0.6 * live_peak(None)


def test_row_bands_free_released_rows_and_refuse_to_read_them():
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).view(1, 2, 1, 10, 3)
    bands = RowBands([(0, x[:, :, :, :4].clone()), (4, x[:, :, :, 4:].clone())], 10)
    assert torch.equal(bands.rows(2, 7), x[:, :, :, 2:7]) and torch.equal(bands.whole(), x)
    big = bands.bands[1][1].untyped_storage()
    bands.release_before(6)
    assert [(first, band.shape[3]) for first, band in bands.bands] == [(6, 4)]
    assert bands.bands[0][1].untyped_storage().nbytes() < big.nbytes()  # a copy, not a view of the band
    assert torch.equal(bands.rows(6, 10), x[:, :, :, 6:])
    with pytest.raises(RuntimeError, match="released"):
        bands.rows(5, 8)


@pytest.mark.parametrize("lean", [False, True], ids=["exact", "lean"])
@pytest.mark.parametrize("shape", [(1, 3, 5, 40, 56), (1, 3, 1, 44, 37)])
def test_exact_tiling_matches_untiled_encode(shape, lean):
    vae = tiny_vae()
    x = torch.rand(shape) * 2 - 1
    with torch.no_grad():  # raw moments: sizes that are not multiples of 8 keep the reference's floor
        assert_matches(vae.encode_moments(x, ExactTiling(tile=2, lean=lean)), vae.encode_moments(x))


def test_low_memory_tiling_is_exact_when_every_tile_sees_everything():
    """Pooled per-core statistics equal whole-input statistics; cross-fades of equal tiles change nothing."""
    vae = tiny_vae()
    z = torch.randn(1, 4, 1, 8, 6)
    tiled = vae.decode(z, tiling=LowMemoryTiling(tile=3, halo=8, blend=2))
    assert_matches(tiled, vae.decode(z, tiling=None))


def test_low_memory_temporal_chunks_cover_the_clip():
    vae = tiny_vae()
    z = torch.randn(1, 4, 5, 2, 2)
    untiled = vae.decode(z, tiling=None)
    chunked = vae.decode(z, tiling=LowMemoryTiling(tile=2, frames=2, halo=1, blend=1))
    assert chunked.shape == untiled.shape == (1, 3, 17, 16, 16)
    covering = LowMemoryTiling(tile=2, halo=1, blend=1, frames=2, halo_frames_before=5, halo_frames_after=5)
    assert_matches(vae.decode(z, tiling=covering), untiled)


def test_low_memory_encode_chunks_converge_to_untiled():
    """With all earlier frames as context, one statistics pass per GroupNorm makes chunks exact
    (the causal encoder's chunks cannot see later frames, so a single pass is not enough)."""
    torch.manual_seed(0)
    vae = CausalVAE(CausalVAEConfig(hidden_size=8, norm_num_groups=4, num_res_blocks=1)).eval()
    x = torch.rand(1, 3, 9, 8, 8) * 2 - 1
    norms = sum(isinstance(m, torch.nn.GroupNorm) for m in vae.encoder.down.modules())
    tiling = LowMemoryTiling(tile=1, halo=1, blend=1, frames=1, halo_frames_before=2, stats_passes=norms)
    mean, logvar = vae.encode(x, tiling=tiling)
    expected_mean, expected_logvar = vae.encode(x, tiling=None)
    assert_matches(mean, expected_mean)
    assert_matches(logvar, expected_logvar)


def test_reference_tiling_below_its_threshold_runs_untiled():
    """The reference raises UnboundLocalError here; we fall back to the untiled path."""
    vae = tiny_reference_vae(tiling=ReferenceTiling(tile_sample_min_size=64, tile_latent_min_size_t=3))
    z = torch.randn(1, 4, 2, 8, 8)
    torch.testing.assert_close(vae.decode(z), vae.decode(z, tiling=None))
    x = torch.rand(1, 3, 5, 64, 64) * 2 - 1
    torch.testing.assert_close(vae.encode(x), vae.encode(x, tiling=None))


def test_reference_tiled_encode_survives_slivers():
    """A 4-pixel border tile would crash the reference's strided convs; it is edge-padded instead."""
    vae = tiny_reference_vae(tiling=ReferenceTiling(tile_sample_min_size=64))
    mean, logvar = vae.encode(torch.rand(1, 3, 1, 116, 64) * 2 - 1)  # tile rows at 0, 56, 112 px
    # Kept latent rows per tile row: min(8, 7) + min(7, 7) + 1; columns: 7 + 1.
    assert mean.shape == logvar.shape == (1, 4, 1, 15, 8) and torch.isfinite(mean).all()


SMALL_BUDGET_LATENTS = (1, 4, 1, 40, 40)  # 320² px: low-memory tiles of 16 latents lower the peak


def test_tiling_choice_steps_down_with_the_budget():
    """Released VAE, 17×512² clip: untiled, then exact tiles, then lean exact tiles from large to
    small as the budget shrinks, and the smallest low-memory tiling when nothing fits."""
    released, shape = CausalVAEConfig.released(), (1, 4, 5, 64, 64)

    def peak(tiling):
        return peak_bytes(released, shape, torch.float32, False, tiling)

    steps = [None, ExactTiling(32), ExactTiling(32, lean=True), ExactTiling(16, lean=True), ExactTiling(8, lean=True)]
    peaks = [peak(tiling) for tiling in steps]
    assert peaks == sorted(peaks, reverse=True) and len(set(peaks)) == len(peaks)
    chosen = [choose_tiling(released, shape, torch.float32, int(1.01 * SAFETY_FACTOR * p), False) for p in peaks]
    assert chosen == steps
    assert choose_tiling(released, shape, torch.float32, 1, encode=False) == LowMemoryTiling(tile=16, frames=1)


class TileLog:
    """An ``on_tile`` callback that records its calls; raises after ``stop_after`` calls if set."""

    def __init__(self, stop_after=None):
        self.calls, self.stop_after = [], stop_after

    def __call__(self, done, total):
        self.calls.append((done, total))
        if len(self.calls) == self.stop_after:
            raise KeyboardInterrupt("stop")


def test_decode_under_a_small_budget_runs_in_tiles():
    vae = tiny_vae().double()  # float64: the tiled result equals the untiled one up to 1e-10, not fp32 rounding
    z = torch.randn(SMALL_BUDGET_LATENTS, dtype=torch.float64)
    budget = int(1.01 * SAFETY_FACTOR * peak_bytes(TINY, z.shape, z.dtype, False, ExactTiling(16, lean=True)))
    assert budget < SAFETY_FACTOR * peak_bytes(TINY, z.shape, z.dtype, encode=False)  # untiled does not fit
    tiling = choose_tiling(TINY, z.shape, z.dtype, budget, encode=False)
    assert tiling == ExactTiling(16, lean=True)
    log = TileLog()
    out = vae.decode(z, tiling=tiling, on_tile=log)
    assert_matches(out, vae.decode(z), rel=1e-10)
    # every pass of every tiled layer reports its tiles in order: 40 latents in tiles of 16 are
    # 3 x 3 tiles at every resolution
    passes = [log.calls[i:i + 9] for i in range(0, len(log.calls), 9)]
    assert len(log.calls) % 9 == 0 and all(p == [(i, 9) for i in range(1, 10)] for p in passes)
    assert len(passes) > len(vae.decoder.stages(lean=True))  # GroupNorm statistics passes too


def test_low_memory_callback_fires_once_per_tile_run_and_can_stop_the_call():
    vae = tiny_vae()
    z = torch.randn(1, 4, 2, 6, 6)
    tiling = LowMemoryTiling(tile=3, halo=1, blend=1, stats_passes=1)
    log = TileLog()
    vae.decode(z, tiling=tiling, on_tile=log)
    runs = 2 * 2 * (tiling.stats_passes + 1)  # 2 x 2 tiles, a statistics pass and the output pass
    assert log.calls == [(i, runs) for i in range(1, runs + 1)]
    stopper = TileLog(stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        vae.decode(z, tiling=tiling, on_tile=stopper)
    assert len(stopper.calls) == 3
