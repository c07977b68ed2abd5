"""Shared test configuration: the real ComfyUI host, and CI strictness.

Under ``CI`` every skipped test marked ``reference`` or ``browser`` is turned into a failure, so a
misconfigured CI (missing golden fixtures, no Chromium) can never pass silently. The fixture
discovery helpers live in ``tests/reference_io.py``.

``comfy_host`` is one real ComfyUI server for the whole session, shared by the ``host`` and
``browser`` tests (start-up costs tens of seconds on 2 cores). Without a prepared ComfyUI
(scripts/setup_comfyui.sh, or COMFYUI_PATH) those tests skip locally and fail under CI.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

HOST_DIR = Path(__file__).resolve().parent / "host"
TESTKIT = HOST_DIR / "testkit"
from scripts.comfy_host import ComfyHost, ComfyHostError, find_comfyui_dir  # noqa: E402
from tests.reference_io import IN_CI  # noqa: E402

_STARTS: list = []  # (comfy_dir, seconds) of every server start, for the terminal summary
STRICT_MARKERS = ("reference", "browser")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = next((m for m in STRICT_MARKERS if item.get_closest_marker(m) is not None), None)
    if IN_CI and report.skipped and marker is not None:
        report.outcome = "failed"
        report.longrepr = f"{marker} test skipped under CI: {report.longrepr}"


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
