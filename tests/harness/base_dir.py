"""The private base directory a test server runs in, and how the pack is installed into it.

ComfyUI gets it as ``--base-directory``, so nothing is written into the checkout it runs::

    <base>/custom_nodes/ComfyUI-PTDiT -> <repo>        (symlink, fixed name whatever the checkout is called)
    <base>/custom_nodes/<name>        -> test-only node packs (``tests/host/testkit/*``)
    <base>/models/<folder>/           tests write tiny checkpoints here (diffusion_models, vae, ...)
    <base>/input  <base>/output  <base>/temp  <base>/user  <base>/comfyui.db
    <base>/server.log                 stdout+stderr of the server (all restarts appended)

The user's ``custom_nodes`` are therefore *not* loaded; ComfyUI still reads an
``extra_model_paths.yaml`` sitting in its own directory, if the checkout has one.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Optional

from tests.harness.hosts import REPO_ROOT
from tests.harness.results import Result

PACK_LINK_NAME = "ComfyUI-PTDiT"
TESTKIT_DIR = REPO_ROOT / "tests" / "host" / "testkit"
SUBFOLDERS = ("custom_nodes", "models", "input", "output", "user", "temp")


def testkit_packs() -> dict:
    """Link name -> directory of every test-only node pack in ``tests/host/testkit``."""
    return {p.name: p for p in sorted(TESTKIT_DIR.iterdir()) if p.is_dir() and p.name != "__pycache__"}


def _subfolder(name: str) -> property:
    return property(lambda self: self.base_dir / name, doc=f"``<base>/{name}``")


class BaseDirectory:
    """A base directory (a fresh temporary one when ``base_dir`` is None, removed by
    :meth:`remove_base`) with ``links`` (name -> node pack directory) in its ``custom_nodes/``."""

    custom_nodes_dir = _subfolder("custom_nodes")
    models_dir = _subfolder("models")
    output_dir = _subfolder("output")
    input_dir = _subfolder("input")
    temp_dir = _subfolder("temp")
    user_dir = _subfolder("user")
    log_path = _subfolder("server.log")
    database_path = _subfolder("comfyui.db")

    def __init__(self, base_dir: Optional[os.PathLike], links: Mapping[str, os.PathLike]):
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="ptdit-comfy-"))
        self.links = {name: Path(target).resolve() for name, target in links.items()}
        self.prepare_base()

    def prepare_base(self) -> None:
        """Create the sub-folders and (re)link every node pack; a link already right is kept."""
        for sub in SUBFOLDERS:
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        for name, target in self.links.items():
            link = self.custom_nodes_dir / name
            if link.is_symlink() and link.resolve() == target:
                continue
            if link.is_symlink():
                link.unlink()
            elif link.exists():
                shutil.rmtree(link)
            link.symlink_to(target, target_is_directory=True)

    def remove_base(self) -> None:
        """Delete the base directory if it was created here (kept with ``PTDIT_KEEP_COMFY_BASE=1``)."""
        if self._own_base and self.base_dir.exists() and os.environ.get("PTDIT_KEEP_COMFY_BASE") != "1":
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def model_path(self, folder: str, name: str) -> Path:
        """Where to write a model file so that ComfyUI lists it under ``folder`` as ``name``
        (``folder`` is a models/ sub-folder such as ``diffusion_models``, ``vae``, ``text_encoders``)."""
        p = self.models_dir / folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def output_files(self, result: Result, node_id: Optional[str] = None, kind: str = "images") -> list:
        """Paths of the files a finished prompt reported under ``outputs[node][kind]``."""
        roots = {"output": self.output_dir, "temp": self.temp_dir, "input": self.input_dir}
        files = []
        for nid, out in result.outputs.items():
            if node_id is not None and str(nid) != str(node_id):
                continue
            for item in out.get(kind, []) or []:
                if isinstance(item, dict) and "filename" in item:
                    root = roots.get(item.get("type", "output"), self.output_dir)
                    files.append(root / item.get("subfolder", "") / item["filename"])
        return files
