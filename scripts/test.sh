#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: creates .venv, installs what the tests need
# (scripts/setup_venv.sh: torch, the pack's requirements, a real ComfyUI host; plus the test
# requirements), lints with ruff, then runs pytest over every prepared host (tests/conftest.py).
#   PTDIT_VENV            virtual environment to use/create   (default: <repo>/.venv)
#   PTDIT_TOOLS_VENV      the registry's tools, comfy-cli and comfy-test (default: <repo>/.venv-tools)
#   PTDIT_REFERENCE_DIR   golden fixtures of the official code (default: <repo>/../shared/reference)
#   COMFYUI_PATH          an existing ComfyUI checkout to test against instead of the bundled one
#   PTDIT_TEST_OUTPUT     where the browser tests leave screenshots and workflows (default: pytest tmp)
# As root on Debian it also apt-installs what the browser and widget tests drive when missing:
# chromium (no browser is ever downloaded; playwright uses /usr/bin/chromium) and nodejs.
# Extra arguments are passed to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PTDIT_VENV:-$repo/.venv}"
export PTDIT_REFERENCE_DIR="${PTDIT_REFERENCE_DIR:-$repo/../shared/reference}"

PTDIT_VENV="$venv" bash "$repo/scripts/setup_venv.sh" "$repo/tests/requirements.txt"
export PTDIT_TOOLS_VENV="${PTDIT_TOOLS_VENV:-$repo/.venv-tools}"
bash "$repo/scripts/setup_registry_tools.sh"
py="$venv/bin/python"
need=()
[ -x "${PTDIT_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium fonts-liberation)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[test.sh] apt-get install ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "[test.sh] WARNING: ${need[*]} missing and not installable here (needs root + apt-get):" \
         "the browser / widget-maths tests will skip (and fail under CI)" >&2
  fi
fi

cd "$repo"
"$py" -m ruff check .  # pyflakes rules (pyproject [tool.ruff]); a finding fails the run
exec "$py" -m pytest -ra --durations=25 "$@" tests
