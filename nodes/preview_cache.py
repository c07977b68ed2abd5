"""Latent-preview factors fitted once per VAE file and cached in ComfyUI's user folder.

The PT-DiT VAE Loader asks :func:`vae_preview_factors` for the factors of the file it loads. They
are keyed by the SHA-256 of the file's bytes (hashed once per path, size and modification time in
a session), so a renamed or copied file is recognised and a changed one is refitted. Lookup order:
this session's memory, the JSON file ``<user>/__ptdit/preview_factors.json`` (ComfyUI's
system-user folder, not served over HTTP), and only then the loader's fit
(:func:`ptdit.vae.preview.fit_preview_factors`: one decode of 4 latents of 8x8, seed 0, float32 on
the CPU). The cache never fails a workflow: an unreadable or corrupt file is ignored (and replaced
at the next write), an unwritable folder only costs a refit in the next session, and a VAE whose
fit fails previews with the default factors.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import folder_paths

CACHE_FOLDER = "ptdit"  # <user>/__ptdit: a ComfyUI system user, internal data only
CACHE_FILE = "preview_factors.json"
# Version of the fit behind the cached entries; a cache written for another version is ignored.
FIT_VERSION = 1
_HASH_CHUNK = 1 << 22


@dataclass(frozen=True)
class PreviewFactors:
    """rgb ~ latent · ``factors`` + ``bias`` (one row of 3 per latent channel), in ComfyUI's
    ``latent_rgb_factors`` layout; ``digest`` is the SHA-256 of the VAE file they were fitted to."""

    factors: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...]
    digest: str

    def to_json(self) -> dict:
        return {"factors": [list(row) for row in self.factors], "bias": list(self.bias)}

    @classmethod
    def from_json(cls, entry, digest: str, channels: int) -> Optional["PreviewFactors"]:
        """The entry if it holds ``channels`` rows of 3 finite numbers and 3 finite biases, else None."""
        if not isinstance(entry, dict):
            return None
        factors, bias = entry.get("factors"), entry.get("bias")
        rows = factors if isinstance(factors, list) and len(factors) == channels else None
        if rows is None or not all(_finite_triple(row) for row in rows) or not _finite_triple(bias):
            return None
        return cls(tuple(tuple(float(v) for v in row) for row in rows), tuple(float(v) for v in bias), digest)


def _finite_triple(values) -> bool:
    return (isinstance(values, list) and len(values) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values))


_digests: dict[tuple[str, int, int], str] = {}  # (real path, size, mtime_ns) -> SHA-256
_fitted: dict[str, PreviewFactors] = {}  # SHA-256 -> factors, this session


def file_digest(path: str) -> str:
    """SHA-256 of the file's bytes, computed once per (path, size, modification time)."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    key = (real, stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        sha = hashlib.sha256()
        with open(real, "rb") as f:
            for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
                sha.update(chunk)
        _digests[key] = sha.hexdigest()
    return _digests[key]


def cache_path() -> Path:
    system_dir = getattr(folder_paths, "get_system_user_directory", None)  # ComfyUI 0.3.70+
    folder = system_dir(CACHE_FOLDER) if system_dir else os.path.join(folder_paths.get_user_directory(),
                                                                      "__" + CACHE_FOLDER)
    return Path(folder) / CACHE_FILE


def read_cache(path: Path) -> dict:
    """The cached entries (digest -> JSON entry); {} for a missing, unreadable, corrupt or
    other-version file (warned about, except when missing)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        logging.warning("PT-DiT: ignoring the preview-factor cache %s (%s); it will be rewritten", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("version") != FIT_VERSION or not isinstance(data.get("vae"), dict):
        logging.warning("PT-DiT: ignoring the preview-factor cache %s (not a version-%d cache); it will be "
                        "rewritten", path, FIT_VERSION)
        return {}
    return data["vae"]


def write_cache(path: Path, entries: dict) -> None:
    """Write the entries atomically (a reader never sees half a file); failures are only warned about."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": FIT_VERSION, "vae": entries}, f, indent=1, sort_keys=True)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as exc:
        logging.warning("PT-DiT: cannot write the preview-factor cache %s (%s); the factors will be refitted "
                        "next session", path, exc)


def vae_preview_factors(path: str, channels: int, fit: Callable[[], tuple[list, list]]) -> Optional[PreviewFactors]:
    """The preview factors of the VAE file ``path`` with ``channels`` latent channels; ``fit()``
    fits them when neither this session nor the cache file has them. None when they cannot be had
    (the default factors then apply)."""
    try:
        digest = file_digest(path)
    except OSError as exc:
        logging.warning("PT-DiT: cannot hash %s for its preview factors (%s); previews use the default", path, exc)
        return None
    known = _fitted.get(digest)
    if known is not None and len(known.factors) == channels:
        return known
    cache = cache_path()
    entries = read_cache(cache)
    found = PreviewFactors.from_json(entries.get(digest), digest, channels)
    if found is None:
        try:
            factors, bias = fit()
        except (ValueError, RuntimeError) as exc:
            logging.warning("PT-DiT: cannot fit preview factors to %s (%s); previews use the default",
                            os.path.basename(path), exc)
            return None
        found = PreviewFactors(tuple(map(tuple, factors)), tuple(bias), digest)
        write_cache(cache, {**entries, digest: {**found.to_json(), "file": os.path.basename(path)}})
    _fitted[digest] = found
    return found
