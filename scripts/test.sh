#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: creates .venv, installs what the tests need
# (torch, the pack's requirements, a real ComfyUI host), then runs pytest.
#   PTDIT_VENV            virtual environment to use/create   (default: <repo>/.venv)
#   PTDIT_REFERENCE_DIR   golden fixtures of the official code (default: <repo>/../shared/reference)
#   COMFYUI_PATH          an existing ComfyUI checkout to test against instead of the bundled one
# Extra arguments are passed to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PTDIT_VENV:-$repo/.venv}"
export PTDIT_REFERENCE_DIR="${PTDIT_REFERENCE_DIR:-$repo/../shared/reference}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
"$py" -m pip install -q --disable-pip-version-check -r "$repo/requirements.txt" -r "$repo/tests/requirements.txt"
if [ -f "$repo/scripts/setup_comfyui.sh" ]; then
  PTDIT_VENV="$venv" bash "$repo/scripts/setup_comfyui.sh"
fi

cd "$repo"
exec "$py" -m pytest -ra "$@" tests
