"""Finding and reading the official implementation's golden fixture files.

The fixtures are found through ``PTDIT_REFERENCE_DIR`` (default: ``../shared/reference`` beside
the checkout); tests discover every file in it by glob. Locally a missing directory skips with a
loud reason; under ``CI`` it fails (see ``tests/conftest.py``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors import safe_open

REPO_ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reference_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "reference"
    return Path(os.environ.get("PTDIT_REFERENCE_DIR", default)).expanduser()


def _sidecar(path: Path) -> dict:
    sidecar = path.with_suffix(".json")
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


def reference_files(subdir: str, suffix: str = ".safetensors", kind: str | None = None,
                    where: Callable[[dict], bool] | None = None) -> list:
    """``pytest.param`` for every ``*suffix`` file in ``$PTDIT_REFERENCE_DIR/subdir`` (id = stem),
    optionally only those whose sidecar JSON has ``"kind": kind``, or for which ``where(sidecar)``
    holds.

    When nothing is found a single ``None`` parameter stands in, which :func:`require` turns into a
    skip (locally) or a failure (CI) naming the directory that was searched.
    """
    folder = reference_dir() / subdir
    files = sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []
    if kind is not None:
        files = [f for f in files if _sidecar(f).get("kind") == kind]
    if where is not None:
        files = [f for f in files if where(_sidecar(f))]
    if not files:
        return [pytest.param(None, id=f"missing-{subdir}", marks=pytest.mark.reference)]
    return [pytest.param(p, id=p.stem, marks=pytest.mark.reference) for p in files]


def require(path):
    """Return ``path`` or stop the test loudly when the reference directory is absent."""
    if path is None:
        why = (f"REFERENCE FIXTURES NOT FOUND in {reference_dir()} — set PTDIT_REFERENCE_DIR to the "
               "directory holding ptdit/ and vae/ golden files")
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    return path


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
