"""Reading the official implementation's golden fixture files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open


@dataclass
class Fixture:
    name: str
    config: dict
    state_dict: dict[str, torch.Tensor]  # reference names, "model." prefix removed
    tensors: dict[str, torch.Tensor]  # everything else (inputs, outputs, schedules)
    sidecar: dict


def load_fixture(path: Path) -> Fixture:
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    sidecar_path = path.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
    state_dict = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    rest = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    return Fixture(path.stem, json.loads(metadata["config"]), state_dict, rest, sidecar)
