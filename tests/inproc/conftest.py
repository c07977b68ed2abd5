"""ComfyUI's own modules imported into the test process (CPU), for tests that need ComfyUI classes but
not a server: the pack's adapters are imported as the package ``ptdit_pack`` (its root ``__init__`` is
not run), ComfyUI's ``nodes.py`` as ``comfyui_nodes`` (our ``nodes/`` package owns the bare name).

ComfyUI is found like the host tests find it (``COMFYUI_PATH`` or ``<repo>/.comfyui``); without it
these tests skip locally and fail under CI.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

from tests.harness.hosts import find_comfyui_dir
from tests.reference_io import IN_CI

REPO_ROOT = Path(__file__).resolve().parents[2]
PACK = "ptdit_pack"


class ComfyInProcess:
    def __init__(self, comfy_dir: Path):
        self.dir = comfy_dir
        if str(comfy_dir) not in sys.path:
            sys.path.append(str(comfy_dir))  # after the repo root: ``nodes`` must stay ours
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import comfy.cli_args

        comfy.cli_args.args.cpu = True  # read once, when comfy.model_management is first imported
        if PACK not in sys.modules:
            pkg = types.ModuleType(PACK)
            pkg.__path__ = [str(REPO_ROOT)]
            sys.modules[PACK] = pkg

    def pack(self, module: str):
        """A module of the pack, e.g. ``pack("nodes.text_encoders")``."""
        return importlib.import_module(f"{PACK}.{module}")

    @property
    def nodes(self):
        """ComfyUI's ``nodes.py`` (CLIPTextEncode, ...)."""
        if "comfyui_nodes" not in sys.modules:
            spec = importlib.util.spec_from_file_location("comfyui_nodes", self.dir / "nodes.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules["comfyui_nodes"] = module
            spec.loader.exec_module(module)
        return sys.modules["comfyui_nodes"]


@pytest.fixture(scope="session")
def comfy_inproc(tmp_path_factory) -> ComfyInProcess:
    """ComfyUI imported in process, its user folder (where the pack caches preview factors) a fresh
    temporary one, so that no test writes into the ComfyUI installation."""
    comfy_dir = find_comfyui_dir()
    if comfy_dir is None:
        why = "no ComfyUI to import: run scripts/setup_comfyui.sh (or scripts/test.sh) or set COMFYUI_PATH"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    comfy = ComfyInProcess(comfy_dir)
    import folder_paths

    folder_paths.set_user_directory(str(tmp_path_factory.mktemp("comfy_user")))
    return comfy
