"""Checkpoint loading, config inference, the released key set, and the converter."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from ptdit import PRESETS, PTDiT
from ptdit.checkpoint import CheckpointError, read_safetensors_metadata
from ptdit.convert import main as convert_main
from ptdit.loader import config_from_metadata, infer_config, load_ptdit
from tests.reference_io import REPO_ROOT, reference_files, require
from tests.unit.tiny import TINY, tiny_inputs, tiny_model

torch.set_grad_enabled(False)


@pytest.mark.parametrize("path", reference_files("ptdit", suffix="_keys.json"))
def test_released_preset_has_exactly_the_official_keys(path):
    listing = json.loads(require(path).read_text())
    model = PTDiT(PRESETS["qihoo-t2i-1.1b"], device="meta")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    theirs = {entry["name"]: entry["shape"] for entry in listing["keys"]}
    assert ours == theirs
    assert sum(p.numel() for p in model.parameters()) == listing["total_parameters"]
    # The config is recoverable from shapes alone (no metadata) for the released width.
    assert infer_config(model.state_dict()) == PRESETS["qihoo-t2i-1.1b"]


def _wrap(state_dict, container, prefix):
    named = {prefix + k: v for k, v in state_dict.items()}
    return {container: named, "epoch": 3} if container else named


@pytest.mark.parametrize("container, prefix", [
    (None, ""), ("state_dict", "module."), ("model", ""), ("ema", "model.diffusion_model."),
    ("module", "predictor."), ("state_dict", "_orig_mod."),
])
def test_pickled_checkpoints_with_containers_and_prefixes_load(tmp_path, container, prefix):
    model = tiny_model()
    path = tmp_path / "ckpt.pt"
    torch.save(_wrap(model.state_dict(), container, prefix), path)
    loaded = load_ptdit(path, config=TINY)
    x, t, ctx, mask = tiny_inputs()
    torch.testing.assert_close(loaded(x, t, ctx, mask), model(x, t, ctx, mask), atol=0, rtol=0)


def test_safetensors_metadata_gives_the_config(tmp_path):
    model = tiny_model(shift_window=False, compress_ratios=(1, 2, 2), proxy_ratios=(1, 2, 2))
    path = tmp_path / "m.safetensors"
    save_file(model.state_dict(), str(path), metadata={"ptdit_config": json.dumps(model.config.to_dict())})
    loaded = load_ptdit(path)
    assert loaded.config == model.config
    x, t, ctx, mask = tiny_inputs()
    torch.testing.assert_close(loaded(x, t, ctx, mask), model(x, t, ctx, mask), atol=0, rtol=0)


def test_metadata_is_read_from_the_header_alone(tmp_path):
    """The Proxy Ratio route reads a file's trained ratios without its tensor data."""
    model = tiny_model(compress_ratios=(1, 2, 2), proxy_ratios=(1, 1, 2))
    path = tmp_path / "m.safetensors"
    save_file(model.state_dict(), str(path), metadata={"ptdit_config": json.dumps(model.config.to_dict())})
    header_end = 8 + int.from_bytes(path.read_bytes()[:8], "little")
    cut = tmp_path / "header_only.safetensors"
    cut.write_bytes(path.read_bytes()[:header_end])  # every tensor byte removed
    config = config_from_metadata(read_safetensors_metadata(cut))
    assert (config.compress_ratios, config.proxy_ratios) == ((1, 2, 2), (1, 1, 2))
    assert config == model.config
    save_file({"w": torch.zeros(2)}, str(path))
    assert read_safetensors_metadata(path) == {} and config_from_metadata({}) is None
    for name, data in (("short", b"\x01\x00"), ("huge", (2 ** 40).to_bytes(8, "little") + b"{}"),
                       ("garbled", (5).to_bytes(8, "little") + b"{nope")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match="not a readable .safetensors file"):
            read_safetensors_metadata(tmp_path / name)


def test_shapes_reveal_shift_bias_depth_and_grid():
    sd = tiny_model(shift_window=False).state_dict()
    inferred = infer_config(sd, num_heads=2)
    assert (inferred.shift_window, inferred.num_layers, inferred.caption_channels, inferred.sample_size) == \
        (False, 2, 24, 32)


def test_unknown_width_without_metadata_asks_for_the_head_count(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file(tiny_model().state_dict(), str(path))
    with pytest.raises(CheckpointError, match="--num-heads"):
        load_ptdit(path)


def test_missing_positional_table_is_recomputed(tmp_path):
    model = tiny_model()
    sd = {k: v for k, v in model.state_dict().items() if k != "pos_embed.pos_embed"}
    path = tmp_path / "m.safetensors"
    save_file(sd, str(path))
    loaded = load_ptdit(path, config=TINY)
    torch.testing.assert_close(loaded.pos_embed.pos_embed, model.pos_embed.pos_embed, atol=0, rtol=0)


def test_key_mismatch_is_reported_in_plain_words(tmp_path):
    sd = tiny_model().state_dict()
    sd.pop("transformer_blocks.1.attn2.to_v.weight")
    sd["transformer_blocks.1.extra.weight"] = torch.zeros(3)
    sd["proj_out.bias"] = torch.zeros(5)
    path = tmp_path / "m.safetensors"
    save_file(sd, str(path))
    with pytest.raises(CheckpointError) as info:
        load_ptdit(path, config=TINY)
    text = str(info.value)
    assert "1 weight(s) the model needs are missing: transformer_blocks.1.attn2.to_v.weight" in text
    assert "unknown to the model: transformer_blocks.1.extra.weight" in text
    assert "proj_out.bias (file (5,), model (32,))" in text


def test_arbitrary_pickles_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _RunsCode()}, f)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_ptdit(path)
    assert "this must never run" not in capsys.readouterr().out  # the payload's print never ran


def _truncated_pt(path):
    torch.save(tiny_model().state_dict(), str(path))
    path.write_bytes(path.read_bytes()[:2000])


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("name, write, message", [
    ("broken.safetensors", lambda p: p.write_bytes(b"not a checkpoint at all"), "not a readable .safetensors"),
    ("broken.ckpt", lambda p: p.write_bytes(b"not a checkpoint at all"),
     "is not a PyTorch checkpoint [(]neither a torch.save archive nor a pickle[)]"),
    ("empty.pt", lambda p: p.write_bytes(b""), "is empty [(]0 bytes[)]"),
    ("cut.pt", _truncated_pt, "is a damaged or truncated PyTorch checkpoint"),
    ("code.pt", lambda p: torch.save({"w": _RunsCode()}, str(p)),
     "would run code from the file [(]print[)]; pickles are read weights-only"),
    ("list.pt", lambda p: torch.save([torch.zeros(1), torch.ones(1)], str(p)), "holds a list, not a dict of tensors"),
])
def test_corrupt_files_give_clear_errors(tmp_path, name, write, message):
    path = tmp_path / name
    write(path)
    with pytest.raises(CheckpointError, match=message):
        load_ptdit(path)


@pytest.mark.parametrize("value, message", [
    ("{num_heads: 2", r"the 'ptdit_config' metadata field is not valid JSON \(Expecting property name"),
    ("[1, 2]", "the 'ptdit_config' metadata field must be a JSON object of config fields, got list"),
    ('{"num_layers": 0}', "the 'ptdit_config' metadata field is not a valid PT-DiT config: PTDiTConfig.num_layers"),
    ('{"colour": "red"}', "not a valid PT-DiT config: unknown PT-DiT config keys: colour"),
])
def test_bad_config_metadata_names_the_field(tmp_path, value, message):
    path = tmp_path / "m.safetensors"
    save_file(tiny_model().state_dict(), str(path), metadata={"ptdit_config": value})
    with pytest.raises(CheckpointError, match=message):
        load_ptdit(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_by_name(tmp_path, bad):
    sd = tiny_model().state_dict()
    sd["proj_out.bias"][3] = bad
    path = tmp_path / "m.safetensors"
    save_file(sd, str(path), metadata={"ptdit_config": json.dumps(TINY.to_dict())})
    with pytest.raises(CheckpointError, match=rf"^1 of {len(sd)} weights hold NaN or infinite values \(proj_out.bias\)"):
        load_ptdit(path)


def test_other_models_are_not_mistaken_for_ptdit(tmp_path):
    path = tmp_path / "vae.safetensors"
    save_file({"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3)}, str(path))
    with pytest.raises(CheckpointError, match="not a PT-DiT checkpoint"):
        load_ptdit(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_ptdit(tmp_path / "absent.safetensors")
    (tmp_path / "weights.gguf").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unsupported checkpoint extension"):
        load_ptdit(tmp_path / "weights.gguf")


@pytest.mark.parametrize("dtype, tol", [("fp32", 0.0), ("bf16", 0.1), ("fp16", 0.02)])
def test_converter_round_trip(tmp_path, dtype, tol):
    model = tiny_model()
    src = tmp_path / "in.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, src)
    dst = tmp_path / "out.safetensors"
    assert convert_main([str(src), str(dst), "--dtype", dtype, "--num-heads", "2",
                         "--compress", "1", "4", "4", "--proxy", "1", "4", "4"]) == 0
    loaded = load_ptdit(dst)
    assert loaded.config == model.config
    expected_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    assert loaded.pos_embed.proj.weight.dtype == expected_dtype
    x, t, ctx, mask = tiny_inputs()
    ref = model(x, t, ctx, mask)
    assert (loaded(x, t, ctx, mask) - ref).abs().max() <= tol * ref.abs().max()


@pytest.mark.parametrize("args, message", [
    (["out.safetensors", "--num-heads", "3"], "error: num_heads=3 must divide the hidden width 32"),
    (["out.bin"], "error: output must be a .safetensors file"),
])
def test_converter_reports_errors_without_traceback(tmp_path, args, message):
    """``python -m ptdit.convert`` as a user runs it: exit status 2 and one line on stderr."""
    src = tmp_path / "in.safetensors"
    save_file(tiny_model().state_dict(), str(src))
    done = subprocess.run([sys.executable, "-m", "ptdit.convert", str(src), str(tmp_path / args[0]), *args[1:]],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / args[0]).exists()
