"""What the Templates browser and the missing-models dialog get from each file in ``workflows/``.

Every workflow has its thumbnail ``<name>.jpg`` beside it (the frontend's card picture), one
Markdown Note naming each model file the graph's loaders load with the folder it goes in and where
it comes from, and a ``models`` entry (name, URL, folder) for each of those files that is not a demo
model shipped in ``demo_models/``. Entry names are read against the loader widgets of the graph as
saved (each loader's file is its first widget); tests/host/test_host_workflows.py checks that the
host's loaders list them.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from scripts import make_workflows as mw

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))


def loader_files(workflow: dict) -> list[tuple[str, str]]:
    """(loader class, file name) of every pack loader in the saved graph (the file is its first widget)."""
    return [(n["type"], n["widgets_values"][0]) for n in workflow["nodes"] if n["type"] in mw.LOADERS]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_has_a_thumbnail_a_note_and_its_model_entries(path):
    workflow = json.loads(path.read_text())
    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file(), f"{thumbnail.name} missing: run scripts/make_workflows.py"
    with Image.open(thumbnail) as image:
        assert (image.format, image.size) == ("JPEG", (512, 512))

    notes = [n for n in workflow["nodes"] if n["type"] in ("Note", "MarkdownNote")]
    assert len(notes) == 1, "one note saying what the workflow needs"
    text = notes[0]["widgets_values"][0]
    files = loader_files(workflow)
    assert files, "every workflow loads its models through the pack's loaders"

    expected = []
    for loader, name in files:
        assert f"`{name}`" in text
        if mw.shipped(loader, name):
            assert "ships with the pack" in text
            continue
        folder = mw.LOADERS[loader][1]
        url, _, convert = mw.SOURCES[name]
        assert f"`{name}` in `ComfyUI/models/{folder}/`" in text and url in text
        if convert:  # the release is a .pt: the note gives the command that converts it
            assert convert in text
        expected.append({"name": name, "url": url, "directory": folder})
    assert workflow["models"] == expected
    assert all(e["url"].startswith("https://huggingface.co/") for e in workflow["models"])

