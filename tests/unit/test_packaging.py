"""Registry metadata and requirements: what ComfyUI-Manager / the registry read from the pack, the
archive comfy-cli packs for it, and the registry's own checks (comfy-cli, comfy-test) on it."""
from __future__ import annotations

import os
import re
import subprocess
import tomllib
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

REPO = Path(__file__).resolve().parents[2]


def requirement_names(lines) -> list[str]:
    return [re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0].lower() for line in lines
            if line.strip() and not line.strip().startswith("#")]


def test_pyproject_has_registry_metadata_and_the_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    comfy = project["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and "includes" in comfy
    assert project["project"]["name"] == "comfyui-ptdit"
    requirements = (REPO / "requirements.txt").read_text().splitlines()
    assert sorted(project["project"]["dependencies"]) == sorted(
        line.split("#")[0].strip() for line in requirements if line.split("#")[0].strip())


def test_torch_is_not_pinned_by_the_pack():
    """ComfyUI users bring their own torch build; the pack must not replace it."""
    requirements = (REPO / "requirements.txt").read_text().splitlines()
    assert not {"torch", "torchvision", "torchaudio"} & set(requirement_names(requirements))


def test_registry_minimum_comfyui_is_the_oldest_tested_host():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    host_version = (REPO / "nodes" / "host_version.py").read_text()
    oldest = re.search(r'OLDEST_TESTED = "([^"]+)"', host_version).group(1)
    assert project["tool"]["comfy"]["requires-comfyui"] == f">={oldest}"


TOOLS = Path(os.environ.get("PTDIT_TOOLS_VENV", REPO / ".venv-tools")) / "bin"


def tool(name: str) -> Path:
    """An executable of the registry's tools (scripts/setup_registry_tools.sh); skips (fails under
    CI, tests/conftest.py) when they are not installed."""
    path = TOOLS / name
    if not path.is_file():
        pytest.skip(f"{path} missing: run scripts/setup_registry_tools.sh (scripts/test.sh does)")
    return path


def run_tool(args: list, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """Run a registry tool without telemetry or prompts, its settings in ``home``."""
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "DO_NOT_TRACK": "1"}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


def comfy(*args) -> list:
    return [tool("comfy"), "--skip-prompt", "--no-json", *args]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """The pack as the registry gets it: ``comfy node pack`` (git-tracked files less .comfyignore),
    unpacked."""
    home = tmp_path_factory.mktemp("tools_home")
    zipped = REPO / "node.zip"  # comfy node pack always writes here
    try:
        done = run_tool(comfy("node", "pack"), REPO, home)
        assert done.returncode == 0, done.stdout + done.stderr
        unpacked = tmp_path_factory.mktemp("archive") / "comfyui-ptdit"
        with zipfile.ZipFile(zipped) as z:
            z.extractall(unpacked)
    finally:
        zipped.unlink(missing_ok=True)
    return unpacked


def shipped_list() -> set:
    """The top-level paths README's "What ships" table lists."""
    section = (REPO / "README.md").read_text().split("\n## What ships\n")[1].split("\n## ")[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([^`]+)`", row)}


def test_archive_holds_what_the_readme_lists_and_no_tests(archive):
    top = {p.name + "/" if p.is_dir() else p.name for p in archive.iterdir()}
    assert top == shipped_list()
    assert (archive / "web" / "ptdit_ratio.js").is_file()
    assert not list(archive.rglob("__pycache__")) and not list(archive.rglob("test_*.py"))


def test_comfy_node_validate_passes(tmp_path):
    done = run_tool(comfy("node", "validate"), REPO, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All validation checks passed" in done.stdout, done.stdout  # security warnings do not fail it
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_comfy_test_lint_passes_on_the_archive(archive, tmp_path):
    """comfy-test's static levels: SYNTAX (cp1252-only Python for Windows consoles, no hard-coded
    CUDA or raw torch.nn layers) and JAVASCRIPT (the widget's extension name under the pack's
    namespace, no globals), strict about warnings."""
    done = run_tool([tool("comfy-test"), "lint", "--strict", archive], tmp_path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[SYNTAX] PASSED" in done.stdout and "[JAVASCRIPT] PASSED" in done.stdout, done.stdout


def test_license_is_the_one_pyproject_names():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    head = (REPO / "LICENSE").read_text().split()[:5]
    assert head == ["Apache", "License", "Version", "2.0,", "January"]


def test_icon_is_a_square_svg_in_the_archive():
    icon = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["comfy"]["Icon"]
    root = ElementTree.parse(REPO / icon).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    width, height = (int(root.get(side)) for side in ("width", "height"))
    assert width == height and 64 <= width <= 400, (width, height)  # the registry's square icon
