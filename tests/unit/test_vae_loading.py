"""Checkpoint loading, strict key checks, config presets and inference, ComfyUI-style construction."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from tests.reference_io import reference_dir
from ptdit.checkpoint import CheckpointError
from ptdit.reference.tiling import ReferenceTiling
from ptdit.reference.vae import ReferenceCausalVAE, configs_from_reference_kwargs, vae_from_reference_config
from ptdit.vae.config import CausalVAEConfig, infer_config
from ptdit.vae.loading import expected_shapes, load_causal_vae
from ptdit.vae.model import CausalVAE
from tests.unit.vae_tiny import TINY, one_thread, tiny_vae  # noqa: F401 (autouse fixture)

RELEASED_KEYS = reference_dir() / "vae" / "osp_v1_2_vae_keys.json"


@pytest.fixture(scope="module")
def released_keys():
    if not RELEASED_KEYS.is_file():
        pytest.skip(f"{RELEASED_KEYS} not found (set PTDIT_REFERENCE_DIR)")
    return json.loads(RELEASED_KEYS.read_text())


@pytest.mark.reference
def test_released_config_has_exactly_the_released_keys(released_keys):
    """Built on the meta device: checks 239M parameters without allocating them."""
    shapes = expected_shapes(CausalVAEConfig.released())
    assert shapes == {entry["key"]: tuple(entry["shape"]) for entry in released_keys["keys"]}
    assert sum(torch.Size(s).numel() for s in shapes.values()) == released_keys["total_params"] == 239_189_991


@pytest.mark.reference
def test_reference_kwargs_of_the_release_give_the_preset(released_keys):
    config, tiling = configs_from_reference_kwargs(released_keys["config"])
    assert config == CausalVAEConfig.released()
    assert tiling == ReferenceTiling() and tiling.tile_latent_min_size == 64


def test_config_is_inferred_from_weight_shapes():
    meta_state = CausalVAE(CausalVAEConfig.released(), device="meta").state_dict()
    assert infer_config(meta_state) == CausalVAEConfig.released()
    assert infer_config(tiny_vae().state_dict(), norm_num_groups=4) == TINY


@pytest.mark.parametrize("kwargs, message", [
    ({"q_conv": "Conv2d"}, "q_conv"),
    ({"encoder_temporal_downsample": ["", "TimeDownsample2x", "", ""]}, "temporal"),
    ({"hidden_size": 4}, "norm_num_groups=32 does not divide"),
    ({"no_such_argument": 1}, "no_such_argument"),
])
def test_unsupported_reference_kwargs_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        configs_from_reference_kwargs(kwargs)


def _containers(state):
    other = {k: torch.zeros_like(v) for k, v in state.items()}
    return {
        "flat": state,
        "model": {"model": state},
        "state_dict_beside_ema": {"state_dict": state, "ema_state_dict": {"module." + k: v for k, v in other.items()}},
        "ema_module_prefix": {"ema_state_dict": {"module." + k: v for k, v in state.items()}},
        "gen_model": {"state_dict": {"gen_model": state}},
        "with_loss_weights": {**state, "loss.discriminator.main.0.weight": torch.zeros(3)},
    }


@pytest.mark.parametrize("layout, suffix", [(layout, ".ckpt") for layout in _containers({})] +
                         [("flat", ".safetensors"), ("with_loss_weights", ".safetensors")])
def test_checkpoint_layouts_load_the_vae_weights(tmp_path, layout, suffix):
    state = tiny_vae(seed=3).state_dict()
    checkpoint = _containers(state)[layout]
    path = tmp_path / f"vae{suffix}"
    if suffix == ".safetensors":
        save_file(checkpoint, str(path))
    else:
        torch.save(checkpoint, path)
    vae = load_causal_vae(path, norm_num_groups=4)
    assert vae.config == TINY
    for key, value in vae.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)


def test_missing_and_misshapen_weights_are_reported(tmp_path):
    state = tiny_vae().state_dict()
    del state["decoder.up.0.block.2.conv2.conv.bias"]
    state["encoder.conv_out.conv.weight"] = state["encoder.conv_out.conv.weight"][:4]
    state["encoder.down.0.block.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as error:
        load_causal_vae(state, TINY)
    text = str(error.value)
    assert "decoder.up.0.block.2.conv2.conv.bias" in text
    assert "encoder.conv_out.conv.weight (file (4, 32, 3, 3, 3), model (8, 32, 3, 3, 3))" in text
    assert "encoder.down.0.block.0.extra.weight" in text


@pytest.mark.parametrize("name, payload", [
    ("broken.safetensors", b"\x00\x01not a safetensors header"),
    ("truncated.ckpt", b"PK\x03\x04 truncated zip"),
])
def test_corrupt_files_raise_checkpoint_error(tmp_path, name, payload):
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(CheckpointError):
        load_causal_vae(path)


def test_pickles_with_code_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": tiny_vae().state_dict(), "optimizer": torch.optim.SGD}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_causal_vae(path)


def test_files_without_vae_weights_are_explained(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"transformer.weight": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no CausalVAE weights"):
        load_causal_vae(path)


def test_reference_entry_point_reads_from_pretrained(tmp_path):
    path = tmp_path / "checkpoint.ckpt"
    state = tiny_vae(seed=5).state_dict()
    torch.save({"state_dict": state}, path)
    kwargs = {"hidden_size": 8, "norm_num_groups": 4, "use_tiling": True, "tile_sample_min_size": 128,
              "from_pretrained": str(path)}
    vae = vae_from_reference_config(kwargs)
    assert isinstance(vae, ReferenceCausalVAE)
    assert vae.reference_tiling == ReferenceTiling(tile_sample_min_size=128)
    torch.testing.assert_close(vae.state_dict()["decoder.conv_in.conv.weight"], state["decoder.conv_in.conv.weight"])


def test_layers_come_from_operations_with_dtype():
    created = []

    def recording(cls):
        class Recorded(cls):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                created.append(cls.__name__)
        return Recorded

    class Operations:
        Conv2d, Conv3d, GroupNorm = recording(nn.Conv2d), recording(nn.Conv3d), recording(nn.GroupNorm)

    vae = CausalVAE(TINY, dtype=torch.float64, operations=Operations)
    modules = [m for m in vae.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.GroupNorm))]
    assert len(created) == len(modules) > 0
    assert all(p.dtype == torch.float64 for p in vae.parameters())
    out = vae.decode(torch.randn(1, 4, 1, 2, 2, dtype=torch.float64), tiling=None)
    assert out.dtype == torch.float64 and out.shape == (1, 3, 1, 16, 16)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_named(tmp_path, bad):
    weights = tiny_vae().state_dict()
    weights["decoder.conv_out.conv.weight"].view(-1)[3] = bad
    path = tmp_path / "broken.safetensors"
    save_file(weights, str(path))
    with pytest.raises(CheckpointError, match=rf"^1 of {len(weights)} weights hold NaN or infinite values "
                                              r"\(decoder\.conv_out\.conv\.weight\)"):
        load_causal_vae(path, TINY)
