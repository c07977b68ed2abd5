"""Shared test configuration: the real ComfyUI hosts, and CI strictness.

Under ``CI`` every skip is a failure, collection-time skips (``pytest.importorskip`` at module level)
included, so a misconfigured CI (missing golden fixtures, demo models, a package, a host, Chromium)
can never pass silently; a local run still skips, loudly (``-ra``). The fixture discovery helpers
live in ``tests/reference_io.py``.

``comfy_host`` is one real ComfyUI server per host configuration (``tests.harness.hosts.host_specs``:
``$COMFYUI_PATH`` alone, or every host ``scripts/setup_comfyui.sh`` prepared), shared by the ``host``
and ``browser`` tests; each test id carries the host's label (``[comfyui-0.33.0]``). pytest groups the
tests by host, so one server runs at a time. A configuration marked ``browser_only`` (a second
frontend on the same backend) runs only ``tests/browser``. Without a prepared ComfyUI those tests skip
locally and fail under CI.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.base_dir import testkit_packs
from tests.harness.client import ComfyHostError
from tests.harness.hosts import host_specs
from tests.harness.server import ComfyHost
from tests.reference_io import IN_CI

BROWSER_DIR = Path(__file__).resolve().parent / "browser"

_STARTS: list = []  # (label, seconds) of every server start, or ("log", path), for the summary
HOST_SPECS = host_specs()


def _ci_failure(report, what: str) -> None:
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{what} skipped under CI (every skip fails there): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _ci_failure(outcome.get_result(), "test")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _ci_failure(outcome.get_result(), f"collection of {collector.nodeid}")


def pytest_collection_modifyitems(config, items):
    """Run only the browser tier on ``browser_only`` host configurations."""
    kept, dropped = [], []
    for item in items:
        spec = getattr(item, "callspec", None) and item.callspec.params.get("comfy_host")
        in_browser_tier = BROWSER_DIR in Path(item.fspath).parents
        (dropped if spec is not None and spec.browser_only and not in_browser_tier else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _no_host(why: str):
    if IN_CI:
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session", params=HOST_SPECS or [None],
                ids=[spec.label for spec in HOST_SPECS] or ["no-host"])
def comfy_host(request, tmp_path_factory):
    """A started :class:`ComfyHost` with the pack and the test-only node packs linked in."""
    spec = request.param
    if spec is None:
        _no_host("no ComfyUI to host the pack: run scripts/setup_comfyui.sh (or scripts/test.sh) "
                 "or set COMFYUI_PATH")
    host = ComfyHost.from_spec(spec, base_dir=tmp_path_factory.mktemp(f"comfy_base_{spec.label}"),
                               extra_custom_nodes=testkit_packs())
    try:
        host.start()
    except ComfyHostError as e:
        host.stop()
        pytest.fail(f"{spec.label}: {e}", pytrace=False)
    _STARTS.append((spec.label, host.startup_seconds))
    yield host
    _STARTS.append(("log", host.log_path))
    host.stop()


def _host_label(nodeid: str):
    """The host label in a test id's parameters, longest first (``comfyui-0.33.0+frontend-1.58.1``
    contains ``comfyui-0.33.0``)."""
    params = nodeid[nodeid.find("["):] if nodeid.endswith("]") else ""
    return next((label for label in sorted((s.label for s in HOST_SPECS), key=len, reverse=True)
                 if label in params), None)


def pytest_terminal_summary(terminalreporter):
    """Per-host outcome counts, then where each server started and logged."""
    counts: dict = {}
    for outcome in ("passed", "failed", "error", "skipped", "xfailed"):
        for report in terminalreporter.stats.get(outcome, []):
            label = _host_label(getattr(report, "nodeid", ""))
            if label is not None:
                by_outcome = counts.setdefault(label, {})
                by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    for label, by_outcome in sorted(counts.items()):
        terminalreporter.write_line(f"host {label}: " + ", ".join(f"{n} {o}" for o, n in by_outcome.items()))
    for what, value in _STARTS:
        if what == "log":
            terminalreporter.write_line(f"ComfyUI host log: {value}")
        else:
            terminalreporter.write_line(f"ComfyUI host {what} answered after {value:.1f} s")
