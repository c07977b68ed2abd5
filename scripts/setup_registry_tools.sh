#!/usr/bin/env bash
# Create (or reuse) the virtual environment of the registry's tools (tests/registry-tools.txt:
# comfy-cli, comfy-test), which tests/unit/test_packaging.py runs on the pack.
#   PTDIT_TOOLS_VENV  the virtual environment (default: <repo>/.venv-tools)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PTDIT_TOOLS_VENV:-$repo/.venv-tools}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$repo/tests/registry-tools.txt"
