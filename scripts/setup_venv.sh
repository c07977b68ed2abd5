#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with PyTorch, the pack's requirements and a
# real ComfyUI (scripts/setup_comfyui.sh). Shared by scripts/demo.sh and scripts/test.sh.
#   PTDIT_VENV  the virtual environment (default: <repo>/.venv)
#   Extra arguments are further requirement files to install (e.g. tests/requirements.txt).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PTDIT_VENV:-$repo/.venv}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
reqs=(-r "$repo/requirements.txt")
for extra in "$@"; do reqs+=(-r "$extra"); done
"$py" -m pip install -q --disable-pip-version-check "${reqs[@]}"
PTDIT_VENV="$venv" bash "$repo/scripts/setup_comfyui.sh"
