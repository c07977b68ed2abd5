"""The PT-DiT VAE as a ``comfy.sd.VAE``, in process: core's constructor sets it up, its decode
matches ptdit's, tiled calls report progress and stop on ComfyUI's interrupt, and bad files are
named. Runs on whichever ComfyUI ``COMFYUI_PATH`` selects (both hosts in CI)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.unit.vae_tiny import one_thread, write_vae_file  # noqa: F401 (autouse fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vae_nodes(comfy_inproc):
    return comfy_inproc.pack("nodes.vae")


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vae") / "tiny_vae.safetensors"
    return path, write_vae_file(path)


@pytest.fixture
def progress_calls():
    """Every ComfyUI progress-bar update during the test, as (value, total); a test may append
    ``"interrupt"`` to have the next update press ComfyUI's interrupt (as the Cancel button does)."""
    import comfy.model_management as mm
    import comfy.utils

    calls = []

    def hook(value, total, preview=None, node_id=None):
        if calls and calls[-1] == "interrupt":
            calls.pop()
            mm.interrupt_current_processing(True)
        calls.append((value, total))

    comfy.utils.set_progress_bar_global_hook(hook)
    yield calls
    comfy.utils.set_progress_bar_global_hook(None)
    mm.interrupt_current_processing(False)


def test_core_constructor_sets_every_attribute_core_sets(vae_nodes, vae_file):
    import comfy.sd

    core_defaults = comfy.sd.VAE(sd={})  # what this release's constructor sets before detection
    vae = vae_nodes.load_ptdit_vae(str(vae_file[0]))
    assert set(vars(core_defaults)) <= set(vars(vae))
    assert {"patcher", "device", "vae_dtype", "output_device"} <= set(vars(vae))
    assert vae.patcher.model is vae.first_stage_model
    assert (vae.spacial_compression_decode(), vae.temporal_compression_decode()) == (8, 4)
    assert vae.latent_channels == 4 and vae.latent_dim == 3


def test_decode_and_encode_match_ptdit(vae_nodes, vae_file):
    path, reference = vae_file
    vae = vae_nodes.load_ptdit_vae(str(path), "untiled")
    torch.manual_seed(1)
    image_latent, clip_latent = torch.randn(1, 4, 3, 5), torch.randn(1, 4, 2, 3, 3)
    image = vae.decode(image_latent)  # IMAGE (1, 24, 40, 3)
    assert image.shape == (1, 24, 40, 3)
    expected = ((reference.decode(image_latent[:, :, None])[:, :, 0] + 1) / 2).clamp(0, 1).movedim(1, -1)
    torch.testing.assert_close(image, expected, atol=1e-5, rtol=0)
    clip = vae.decode(clip_latent)  # (1, 5, 24, 24, 3): frames kept apart
    expected = ((reference.decode(clip_latent) + 1) / 2).clamp(0, 1).movedim(1, -1)
    torch.testing.assert_close(clip, expected, atol=1e-5, rtol=0)
    frames = torch.rand(5, 16, 24, 3)  # an IMAGE batch is one clip
    mean, _ = reference.encode(frames.movedim(-1, 0)[None] * 2 - 1)
    torch.testing.assert_close(vae.encode(frames), mean, atol=1e-5, rtol=0)


def test_tiled_decode_reports_each_tile_and_matches_untiled(vae_nodes, vae_file, progress_calls):
    vae = vae_nodes.load_ptdit_vae(str(vae_file[0]))
    z = torch.randn(1, 4, 1, 12, 12)
    untiled = vae.decode(z)
    assert progress_calls == []  # small enough for the free memory: untiled, no tiles
    tiled = vae.decode_tiled(z, tile_x=6, tile_y=6)
    torch.testing.assert_close(tiled, untiled, atol=1e-4, rtol=0)  # fp32 rounding (float64: 1e-10, unit tests)
    # 12 latents in tiles of 6: 2 x 2 tiles per pass. ComfyUI 0.33 throttles what reaches the hook
    # by time, but always passes a bar's first and final update (ptdit's tests count every tile).
    assert progress_calls[0] == (1, 4) and progress_calls[-1] == (4, 4)
    assert all(total == 4 for _, total in progress_calls)


@pytest.mark.parametrize("limited_by", ["memory_limit_gb", "free_memory"])
def test_stock_vae_decode_tiles_exactly_within_the_budget(comfy_inproc, vae_nodes, vae_file, progress_calls,
                                                         monkeypatch, limited_by):
    """The stock VAE Decode node with a small budget, from the loader's memory limit or from what
    ComfyUI reports free: lean exact tiles, and the untiled image."""
    from ptdit_pack.ptdit.vae.memory import SAFETY_FACTOR, choose_tiling, peak_bytes
    from ptdit_pack.ptdit.vae.tiling import ExactTiling

    decode = comfy_inproc.nodes.VAEDecode().decode
    z = torch.randn(1, 4, 1, 40, 40)
    unlimited = vae_nodes.load_ptdit_vae(str(vae_file[0]))
    untiled = decode(unlimited, {"samples": z})[0]
    assert progress_calls == []  # everything fits: untiled
    config = unlimited.first_stage_model.vae.config
    budget = int(1.01 * SAFETY_FACTOR * peak_bytes(config, z.shape, z.dtype, False, ExactTiling(16, lean=True)))
    assert choose_tiling(config, z.shape, z.dtype, budget, encode=False) == ExactTiling(16, lean=True)
    if limited_by == "memory_limit_gb":
        vae = vae_nodes.load_ptdit_vae(str(vae_file[0]), "auto", budget / 2**30)
    else:
        vae = unlimited
        monkeypatch.setattr(vae_nodes.mm, "get_free_memory", lambda *args, **kwargs: budget)
    tiled = decode(vae, {"samples": z})[0]
    assert tiled.shape == untiled.shape == (1, 320, 320, 3)
    torch.testing.assert_close(tiled, untiled, atol=1e-4, rtol=0)  # fp32 rounding (float64: 1e-10, unit tests)
    # lean 16-latent tiles: 3 x 3 tiles in every pass of every tiled layer
    assert progress_calls and {total for _, total in progress_calls} == {9}


def test_memory_limit_must_not_be_negative(vae_nodes, vae_file):
    with pytest.raises(ValueError, match="memory_limit_gb"):
        vae_nodes.load_ptdit_vae(str(vae_file[0]), "auto", -1.0)


def test_interrupt_stops_a_tiled_decode_between_tiles(vae_nodes, vae_file, progress_calls):
    import comfy.model_management as mm

    vae = vae_nodes.load_ptdit_vae(str(vae_file[0]))
    progress_calls.append("interrupt")  # pressed while the first tile is reported
    with pytest.raises(mm.InterruptProcessingException):
        vae.decode_tiled(torch.randn(1, 4, 1, 12, 12), tile_x=6, tile_y=6)
    assert progress_calls == [(1, 4)]  # no second tile ran


def test_non_finite_weights_name_the_file(vae_nodes, tmp_path):
    def poison(weights):
        weights["encoder.conv_in.weight"].view(-1)[0] = float("nan")

    path = tmp_path / "nan_vae.safetensors"
    write_vae_file(path, edit=poison)
    with pytest.raises(ValueError, match=r"nan_vae\.safetensors cannot be loaded .*: 1 of \d+ weights hold NaN or infinite"
                                         r" values \(encoder\.conv_in\.weight\)"):
        vae_nodes.load_ptdit_vae(str(path))


def test_default_preview_factors_are_the_demo_vae_fit_and_loading_a_vae_keeps_them(comfy_inproc, vae_nodes, vae_file):
    from ptdit.vae.loading import load_causal_vae
    from ptdit.vae.preview import fit_preview_factors

    latent_format = comfy_inproc.pack("nodes.comfy_model").PTDiTLatentFormat
    demo = load_causal_vae(REPO / "demo_models" / "vae" / "ptdit_demo_vae.safetensors", dtype=torch.float32)
    factors, bias = fit_preview_factors(demo)
    torch.testing.assert_close(torch.tensor(latent_format.latent_rgb_factors), torch.tensor(factors),
                               atol=6e-5, rtol=0)  # stored to 4 decimals
    torch.testing.assert_close(torch.tensor(latent_format.latent_rgb_factors_bias), torch.tensor(bias),
                               atol=6e-5, rtol=0)
    before = (latent_format.latent_rgb_factors, latent_format.latent_rgb_factors_bias)
    vae_nodes.load_ptdit_vae(str(vae_file[0]))  # another VAE: the previews of every model stay as they are
    assert (latent_format.latent_rgb_factors, latent_format.latent_rgb_factors_bias) == before
