"""Safe checkpoint reading shared by the transformer and the VAE.

Only two on-disk formats are accepted:

* ``.safetensors`` (tensors plus string metadata), and
* pickled ``.pt`` / ``.pth`` / ``.ckpt`` files, read exclusively through
  ``torch.load(weights_only=True)`` so that no arbitrary object is ever unpickled.

Training frameworks wrap weights in containers (``{"state_dict": {...}}``, ``{"model": ...}``,
``{"ema": ...}``) and prefix names (``module.``, ``model.``, ...). :func:`unwrap_state_dict` peels
those layers off until the names match what the caller expects, and :func:`check_keys` turns a
key mismatch into a message a user can act on.
"""
from __future__ import annotations

import json
import os
import re
import struct
from typing import Iterable, Mapping

import torch

# The one table of tensor dtypes by name, used by the converter, the loaders' weight choices and the
# benchmarks. The first three are compute dtypes; fp8 is storage only (a host casts per layer).
COMPUTE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPES = {**COMPUTE_DTYPES, "fp8_e4m3fn": torch.float8_e4m3fn}

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")

ZIP_MAGIC = b"PK\x03\x04"  # torch.save since 1.6 writes a zip archive
PICKLE_PROTO = 0x80  # older torch.save files and plain pickles start with the PROTO opcode

# Searched in this order: the first container holding a tensor dict wins. ``model`` and
# ``state_dict`` come first because that is the order the official loader uses.
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit on the JSON header

CONTAINER_KEYS = ("model", "state_dict", "ema", "ema_state_dict", "model_ema", "module",
                  "predictor", "net", "generator", "gen_model", "params")


class CheckpointError(ValueError):
    """A file that cannot be used as the requested kind of checkpoint."""


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict[str, str]]:
    """Read a checkpoint file without executing code from it.

    Returns ``(obj, metadata)``: ``obj`` is the raw loaded object (a dict of tensors for
    safetensors, possibly nested containers for pickles) and ``metadata`` the safetensors header
    metadata (empty for pickles).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint file not found: {path!r}")
    lower = path.lower()
    if lower.endswith(SAFETENSORS_SUFFIXES):
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(path, framework="pt", device="cpu") as f:
                metadata = dict(f.metadata() or {})
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path!r} is not a readable .safetensors file: {exc}") from exc
        return tensors, metadata
    if lower.endswith(PICKLE_SUFFIXES):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
            raise CheckpointError(f"{path!r} {pickle_failure(path, exc)}") from exc
        if not isinstance(obj, Mapping):
            raise CheckpointError(f"{path!r} holds a {type(obj).__name__}, not a dict of tensors")
        return dict(obj), {}
    raise CheckpointError(
        f"unsupported checkpoint extension for {path!r}; expected one of "
        f"{', '.join(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES)}"
    )


def pickle_failure(path: str, exc: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed with ``exc``, as the end of a sentence that
    names the file: not a PyTorch file at all, a pickle the weights-only reader refuses, or damage."""
    with open(path, "rb") as f:
        head = f.read(len(ZIP_MAGIC))
    if not head:
        return "is empty (0 bytes): download it again"
    if not head.startswith(ZIP_MAGIC) and head[0] != PICKLE_PROTO:
        return ("is not a PyTorch checkpoint (neither a torch.save archive nor a pickle): download it again, or "
                "pick the right file")
    text = str(exc)
    policy = "pickles are read weights-only (tensors and plain containers), for safety: convert it to .safetensors"
    if text.startswith("Weights only load failed"):
        code = re.search(r"GLOBAL ([\w.]+)", text)
        if code:
            return f"would run code from the file ({code.group(1)}); {policy}"
        return f"holds more than tensors; {policy}"
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"is a damaged or truncated PyTorch checkpoint ({first_line}): download it again"


def read_failure(path: str, exc: Exception) -> str:
    """Why reading ``path`` (a host's loader, weights-only) failed with ``exc``, as the end of a
    sentence that names the file: :func:`pickle_failure` for a pickle, else an unreadable file."""
    if path.lower().endswith(PICKLE_SUFFIXES):
        return pickle_failure(path, exc)
    return f"is not a readable checkpoint: {exc}"


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` file, reading only its JSON header (no tensor data).

    The file starts with the header's byte length (8 bytes, little-endian) and the header itself, a
    JSON object whose ``__metadata__`` entry holds the metadata. Raises :class:`CheckpointError`.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > MAX_HEADER_BYTES:
                raise ValueError(f"header of {size} bytes is larger than the format allows")
            header = json.loads(f.read(size))
    except (OSError, struct.error, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"{path!r} is not a readable .safetensors file: {exc}") from exc
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        return {}
    return {k: v for k, v in metadata.items() if isinstance(v, str)}


def _tensor_items(obj: Mapping) -> dict[str, torch.Tensor]:
    return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _flatten_candidates(obj: Mapping, depth: int = 0):
    """Yield every nested mapping that holds tensors, outermost first (containers in priority order)."""
    if _tensor_items(obj):
        yield obj
    if depth >= 3:
        return
    ordered = [k for k in CONTAINER_KEYS if k in obj] + [k for k in obj if k not in CONTAINER_KEYS]
    for key in ordered:
        value = obj[key]
        if isinstance(value, Mapping):
            yield from _flatten_candidates(value, depth + 1)


def strip_prefixes(state_dict: Mapping[str, torch.Tensor], anchors: Iterable[str]) -> dict[str, torch.Tensor]:
    """Remove a wrapper prefix (``module.``, ``model.diffusion_model.``, ...) in front of ``anchors``.

    ``anchors`` are a few key names characteristic of the target model. The shortest prefix found
    in front of an anchor is removed from every key that carries it; keys without it are dropped
    (they belong to other sub-models stored in the same file, e.g. a VAE beside a transformer).
    """
    anchors = tuple(anchors)
    if any(a in state_dict for a in anchors):
        return dict(state_dict)
    for anchor in anchors:
        prefixes = {k[: -len(anchor)] for k in state_dict if k.endswith("." + anchor)}
        if prefixes:
            prefix = min(prefixes, key=len)
            return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return dict(state_dict)


def unwrap_state_dict(obj: Mapping, anchors: Iterable[str]) -> dict[str, torch.Tensor]:
    """Find the tensor dict inside ``obj`` whose names (after prefix stripping) contain an anchor.

    Falls back to the first tensor dict found when no candidate matches, so that :func:`check_keys`
    can report what the file holds instead.
    """
    anchors = tuple(anchors)
    first = None
    for candidate in _flatten_candidates(obj):
        tensors = strip_prefixes(_tensor_items(candidate), anchors)
        if first is None:
            first = tensors
        if any(a in tensors for a in anchors):
            return tensors
    if first is None:
        raise CheckpointError("the checkpoint holds no tensors")
    return first


def summarise(names: list[str], limit: int = 8) -> str:
    """The first ``limit`` names, comma-separated, and how many more there are."""
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def check_keys(
    expected: Mapping[str, torch.Size | tuple],
    found: Mapping[str, torch.Tensor],
    what: str,
    optional: Iterable[str] = (),
) -> None:
    """Raise :class:`CheckpointError` unless ``found`` has exactly the ``expected`` names and shapes.

    ``optional`` names may be absent (e.g. fixed buffers that are recomputed anyway).
    """
    optional = set(optional)
    missing = sorted(k for k in expected if k not in found and k not in optional)
    unexpected = sorted(k for k in found if k not in expected)
    wrong = sorted(
        f"{k} (file {tuple(found[k].shape)}, model {tuple(expected[k])})"
        for k in expected
        if k in found and tuple(found[k].shape) != tuple(expected[k])
    )
    if not (missing or unexpected or wrong):
        return
    lines = [f"this file does not match a {what}:"]
    if missing:
        lines.append(f"  {len(missing)} weight(s) the model needs are missing: {summarise(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} weight(s) in the file are unknown to the model: {summarise(unexpected)}")
    if wrong:
        lines.append(f"  {len(wrong)} weight(s) have the wrong shape: {summarise(wrong, 4)}")
    raise CheckpointError("\n".join(lines))

