#!/usr/bin/env bash
# One prepared GPU check of the pack, printed as it goes:
#   1. the demo T2I workflow through ComfyUI on the GPU, with default and fp8_e4m3fn weights;
#   2. the scaling table in bf16 (benchmarks/scaling.py: the loader's PT-DiT MODEL through apply_model
#      against the official PTDiTDiffuser and ComfyUI's PixArt, alternating pairs, peak memory), also
#      written to out/gpu_check_scaling.json.
# It installs what it needs into its own venv: scripts/setup_venv.sh (torch, the pack's requirements,
# ComfyUI), then diffusers 0.30.3 + einops for the official model (never the project's requirements).
set -euo pipefail

usage() {
    cat <<EOF
usage: benchmarks/gpu_check.sh --official-src DIR [--cpu] [--venv DIR]
  --official-src DIR  MindSpeed-MM checkout (holds mindspeed_mm/models/predictor/dits/pt_dit_diffusers.py)
  --cpu               no GPU: the same steps on the CPU, small (512², 1 pair, float32)
  --venv DIR          venv to create or reuse (default: .venv-gpu-check in the repository)
  COMFYUI_PATH        the ComfyUI to run the workflow in (default: the repository's .comfyui)
EOF
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OFFICIAL_SRC="" CPU=0 VENV="$REPO/.venv-gpu-check"
while [ $# -gt 0 ]; do
    case "$1" in
        --official-src) OFFICIAL_SRC="$2"; shift 2 ;;
        --cpu) CPU=1; shift ;;
        --venv) VENV="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[ -n "$OFFICIAL_SRC" ] || { usage >&2; exit 2; }

PTDIT_VENV="$VENV" bash "$REPO/scripts/setup_venv.sh"
PY="$VENV/bin/python"
"$PY" -m pip install -q --disable-pip-version-check diffusers==0.30.3 einops

if [ "$CPU" = 1 ]; then
    echo "== CPU mode (--cpu): a smoke run of the steps, NOT a GPU measurement"
    SCALING=(--quick --pairs 1)
else
    "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device (use --cpu)'; print(torch.cuda.get_device_name())"
    SCALING=(--device cuda --dtype bf16 --pairs 3)
    export PTDIT_COMFY_GPU=1
fi

for dtype in default fp8_e4m3fn; do
    echo "== 1. demo T2I workflow through ComfyUI, weight_dtype=$dtype"
    (cd "$REPO" && "$PY" -m scripts.run_demo --weight-dtype "$dtype" --out "$REPO/out/gpu_check_$dtype")
done

echo "== 2. scaling table: PT-DiT against ComfyUI's PixArt and the official code"
mkdir -p "$REPO/out"
(cd "$REPO" && "$PY" benchmarks/scaling.py "${SCALING[@]}" --official-src "$OFFICIAL_SRC" \
    --json "$REPO/out/gpu_check_scaling.json")
