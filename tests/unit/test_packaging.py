"""Registry metadata and requirements: what ComfyUI-Manager / the registry read from the pack."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

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
