#!/usr/bin/env bash
# The main job on a fresh machine: prepare .venv (PyTorch, the pack's requirements, ComfyUI 0.3.75),
# start a real ComfyUI with this pack on 127.0.0.1 and run the demo T2I workflow with the tiny demo
# models; prints where the PNG is. Arguments go to scripts/run_demo.py (--workflow, --prompt, --seed).
#   PTDIT_VENV    virtual environment to use/create (default: <repo>/.venv)
#   COMFYUI_PATH  an existing ComfyUI checkout to run instead of the bundled one
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PTDIT_VENV:-$repo/.venv}"
start=$(date +%s)
echo "[demo.sh] preparing $venv (first run: installs PyTorch and ComfyUI, a few minutes)" >&2
PTDIT_VENV="$venv" PTDIT_HOSTS="${PTDIT_HOSTS:-oldest}" bash "$repo/scripts/setup_venv.sh"
echo "[demo.sh] environment ready after $(( $(date +%s) - start )) s" >&2
cd "$repo"
"$venv/bin/python" -m scripts.run_demo "$@"
echo "[demo.sh] total wall time $(( $(date +%s) - start )) s" >&2
