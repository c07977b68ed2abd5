"""Shared test configuration: where the golden reference fixtures live, and CI strictness.

The fixtures produced by the official implementation are found through ``PTDIT_REFERENCE_DIR``
(default: ``../shared/reference`` beside the checkout). Tests discover every file in it by glob.
Locally a missing directory skips with a loud reason; under ``CI`` every skipped test marked
``reference`` is turned into a failure, so a misconfigured CI can never pass silently.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reference_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "reference"
    return Path(os.environ.get("PTDIT_REFERENCE_DIR", default)).expanduser()


def reference_files(subdir: str, suffix: str = ".safetensors") -> list:
    """``pytest.param`` for every ``*suffix`` file in ``$PTDIT_REFERENCE_DIR/subdir`` (id = stem).

    When nothing is found a single ``None`` parameter stands in, which :func:`require` turns into a
    skip (locally) or a failure (CI) naming the directory that was searched.
    """
    folder = reference_dir() / subdir
    files = sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("reference") is not None:
        report.outcome = "failed"
        report.longrepr = f"reference test skipped under CI: {report.longrepr}"
