"""Which ComfyUI installs the pack is tested on: ``$COMFYUI_PATH``, or what
``scripts/setup_comfyui.sh`` listed in ``.hosts/hosts.json``."""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTS_MANIFEST = REPO_ROOT / ".hosts" / "hosts.json"


@dataclass(frozen=True)
class HostSpec:
    """One ComfyUI configuration to run the pack in.

    ``label`` names it in test ids (``comfyui-0.33.0``); ``python`` runs its server;
    ``front_end_root`` (or None for the frontend the host ships) is passed as ``--front-end-root``;
    ``browser_only`` marks a second frontend on a backend that already has a spec of its own, on
    which only the browser tier runs.
    """
    label: str
    comfy_dir: Path
    python: str
    front_end_root: Optional[Path] = None
    browser_only: bool = False

    @property
    def server_args(self) -> list:
        return ["--front-end-root", str(self.front_end_root)] if self.front_end_root else []


def host_specs() -> list:
    """The hosts to test on: ``$COMFYUI_PATH`` alone if set (run by ``$PTDIT_COMFY_PYTHON`` or this
    interpreter), else every configuration ``scripts/setup_comfyui.sh`` listed in ``.hosts/hosts.json``
    whose checkout and interpreter exist. Empty when nothing is prepared."""
    if os.environ.get("COMFYUI_PATH"):
        found = find_comfyui_dir()
        if found is None:
            return []
        version = comfyui_version(found)
        return [HostSpec(f"comfyui-{version}", found, os.environ.get("PTDIT_COMFY_PYTHON") or sys.executable)]
    if not HOSTS_MANIFEST.is_file():
        return []
    specs = []
    for row in json.loads(HOSTS_MANIFEST.read_text()):
        spec = HostSpec(row["label"], Path(row["comfy_dir"]), row["python"],
                        Path(row["front_end_root"]) if row.get("front_end_root") else None,
                        bool(row.get("browser_only")))
        if (spec.comfy_dir / "main.py").is_file() and Path(spec.python).is_file():
            specs.append(spec)
    return specs


def comfyui_version(comfy_dir: Path) -> str:
    """``__version__`` from a checkout's ``comfyui_version.py`` ("unknown" if it has none)."""
    text = Path(comfy_dir) / "comfyui_version.py"
    found = re.search(r'__version__\s*=\s*"([^"]+)"', text.read_text()) if text.is_file() else None
    return found.group(1) if found else "unknown"


def find_comfyui_dir() -> Optional[Path]:
    """``$COMFYUI_PATH`` if set (must be valid), else ``<repo>/.comfyui`` if prepared, else None."""
    env = os.environ.get("COMFYUI_PATH")
    candidate = Path(env).expanduser() if env else REPO_ROOT / ".comfyui"
    if (candidate / "main.py").is_file() and (candidate / "nodes.py").is_file() and (candidate / "comfy").is_dir():
        return candidate.resolve()
    return None
