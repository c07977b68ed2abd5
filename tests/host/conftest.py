"""Session-scoped real ComfyUI server for the tests marked ``host``.

One server runs for the whole session (start-up costs tens of seconds on 2 cores). Tests get it
through the ``comfy_host`` fixture. Without a prepared ComfyUI (scripts/setup_comfyui.sh, or
COMFYUI_PATH) the host tests skip locally and fail under CI.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfy_host import ComfyHost, ComfyHostError, find_comfyui_dir  # noqa: E402

TESTKIT = Path(__file__).resolve().parent / "testkit"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_STARTS: list = []  # (comfy_dir, seconds) of every server start, for the terminal summary


@pytest.fixture(scope="session")
def comfy_host(tmp_path_factory):
    """A started :class:`ComfyHost` with the pack and the test-only node packs linked in."""
    comfy_dir = find_comfyui_dir()
    if comfy_dir is None:
        why = ("no ComfyUI to host the pack: run scripts/setup_comfyui.sh (or scripts/test.sh) "
               "or set COMFYUI_PATH")
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    host = ComfyHost(comfy_dir, base_dir=tmp_path_factory.mktemp("comfy_base"),
                     extra_custom_nodes={p.name: p for p in sorted(TESTKIT.iterdir()) if p.is_dir()})
    try:
        host.start()
    except ComfyHostError as e:
        host.stop()
        pytest.fail(str(e), pytrace=False)
    _STARTS.append((host.comfy_dir, host.startup_seconds))
    yield host
    _STARTS.append(("log", host.log_path))
    host.stop()


def pytest_terminal_summary(terminalreporter):
    for what, value in _STARTS:
        if what == "log":
            terminalreporter.write_line(f"ComfyUI host log: {value}")
        else:
            terminalreporter.write_line(f"ComfyUI host ({what}) answered after {value:.1f} s")
