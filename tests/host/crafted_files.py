"""Broken model files for the reliability suite, each a few bytes to a few MB, written by the test.

Every writer takes the target path; the ones built from the demo T2I model keep its safetensors
metadata (``ptdit_config``), so only the damage named in the writer differs from a good file.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from scripts.demo import runtime as demo

MALICE_MARKER = "ptdit_pickle_ran"  # the malicious pickles would create this file next to themselves


def demo_t2i() -> tuple[dict, dict]:
    """(tensors, metadata) of the demo T2I model."""
    with safe_open(str(demo.MODELS_DIR / demo.dit_file("t2i")), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def _changed(path: Path, change=None, metadata_change=None, dtype=None) -> None:
    tensors, metadata = demo_t2i()
    if dtype is not None:
        tensors = {k: v.to(dtype) for k, v in tensors.items()}
    if change is not None:
        change(tensors)
    if metadata_change is not None:
        metadata_change(metadata)
    save_file(tensors, str(path), metadata=metadata)


def _set(key, value):
    def change(tensors):
        tensors[key] = value(tensors[key])
    return change


class _Malice:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _config_field(**fields):
    def change(metadata):
        metadata["ptdit_config"] = json.dumps({**json.loads(metadata["ptdit_config"]), **fields})
    return change


def _good_pt(path: Path) -> bytes:
    torch.save(demo_t2i()[0], str(path))
    return path.read_bytes()


WRITERS = {
    "random_bytes.pt": lambda p: p.write_bytes(os.urandom(2048)),
    "zero_bytes.pt": lambda p: p.write_bytes(b""),
    "malicious_zip.pt": lambda p: torch.save({"w": _Malice(p.parent / MALICE_MARKER)}, str(p)),
    "truncated.pt": lambda p: p.write_bytes(_good_pt(p)[:4096]),
    "list_of_tensors.pt": lambda p: torch.save([torch.zeros(2), torch.ones(2)], str(p)),
    "zero_bytes.safetensors": lambda p: p.write_bytes(b""),
    "random_bytes.safetensors": lambda p: p.write_bytes(os.urandom(2048)),
    "huge_header.safetensors": lambda p: p.write_bytes(struct.pack("<Q", 1 << 60) + b"{}"),
    "truncated.safetensors": lambda p: (_changed(p), p.write_bytes(p.read_bytes()[:100_000])),
    "all_nan.safetensors": lambda p: _changed(p, lambda t: t.update({k: torch.full_like(v, float("nan"))
                                                                     for k, v in t.items()})),
    "one_inf.safetensors": lambda p: _changed(p, _set("proj_out.bias", lambda v: v.fill_(float("inf")))),
    "bad_json.safetensors": lambda p: _changed(p, metadata_change=lambda m: m.update(ptdit_config="{num_heads: 2")),
    "json_list.safetensors": lambda p: _changed(p, metadata_change=lambda m: m.update(ptdit_config="[1, 2]")),
    "bad_config_value.safetensors": lambda p: _changed(p, metadata_change=_config_field(num_layers=-1)),
    "unknown_config_key.safetensors": lambda p: _changed(p, metadata_change=_config_field(colour="red")),
    "vae_keys.safetensors": lambda p: save_file({"encoder.conv_in.weight": torch.zeros(2, 3, 3, 3)}, str(p)),
    "wrong_shape.safetensors": lambda p: _changed(p, _set("proj_out.bias", lambda v: torch.zeros(v.numel() + 1))),
    "missing_weight.safetensors": lambda p: _changed(p, lambda t: t.pop("proj_out.weight")),
    # finite in fp32, beyond the fp16 range (65504): infinite once loaded with weight_dtype fp16
    "fp16_overflow.safetensors": lambda p: _changed(p, _set("proj_out.weight", lambda v: v.fill_(1e6)),
                                                    dtype=torch.float32),
}


def write_all(folder: Path) -> dict[str, Path]:
    """Write every crafted file into ``folder``; name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, write in WRITERS.items():
        paths[name] = folder / f"rel_{name}"
        write(paths[name])
    return paths
