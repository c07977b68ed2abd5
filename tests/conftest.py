"""CI strictness: under ``CI`` every skipped test marked ``reference`` is turned into a failure,
so a misconfigured CI (missing golden fixtures) can never pass silently. The fixture discovery
helpers live in ``tests/reference_io.py``.
"""
from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("reference") is not None:
        report.outcome = "failed"
        report.longrepr = f"reference test skipped under CI: {report.longrepr}"
