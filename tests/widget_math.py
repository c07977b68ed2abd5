"""Runs the Proxy Ratio widget's maths (web/ptdit_ratio_math.js) in Node.js for the parity tests of
tests/unit and tests/inproc. Without ``node`` they skip locally and fail under CI."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.reference_io import IN_CI, REPO_ROOT

MATH_JS = REPO_ROOT / "web" / "ptdit_ratio_math.js"
_RUNNER = r"""
import { readFileSync } from "node:fs";
const m = await import(process.argv[1]);
const q = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(OUTPUTS));
"""


def run_math_js(outputs: str, query: dict) -> dict:
    """Evaluate ``outputs``, a JS object literal over the module ``m`` and the JSON ``query`` as ``q``."""
    node = shutil.which("node")
    if node is None:
        why = "NODE.JS NOT FOUND: the widget maths cannot be compared with Python (install nodejs)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    done = subprocess.run([node, "--input-type=module", "-e", _RUNNER.replace("OUTPUTS", outputs), MATH_JS.as_uri()],
                          input=json.dumps(query), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
