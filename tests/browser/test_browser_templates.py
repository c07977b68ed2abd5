"""The pack's workflows in the frontend's Templates browser, with their thumbnails, in headless Chromium.

The hosts serve ``workflows/*.json`` and the ``.jpg`` beside each (``app/custom_node_manager.py``);
the dialog (Workflow > Browse Templates, the ``Comfy.BrowseTemplates`` command) lists them under the
pack's folder name. Each of the pack's cards must show its picture (the image loaded, at its 512 px
size), and a card opens its workflow. A screenshot of the dialog is kept per frontend version.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.harness.base_dir import PACK_LINK_NAME

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NAMES = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
CARDS_JS = """(names) => names.map((name) => {
    // A card: the closest block around the template's title (in the dialog: a workflow tab may carry the
    // same name) that holds exactly one picture.
    const title = [...document.querySelectorAll('[role="dialog"] *')]
        .find((e) => e.children.length === 0 && e.textContent.trim() === name);
    let card = title;
    while (card && card.querySelectorAll('img').length === 0) card = card.parentElement;
    const imgs = card ? card.querySelectorAll('img') : [];
    return [name, imgs.length === 1 && imgs[0].complete ? imgs[0].naturalWidth : 0];
})"""
SCROLL_JS = """() => [...document.querySelectorAll('[role="dialog"] *')]
    .filter((e) => e.scrollHeight > e.clientHeight + 10 && /auto|scroll/.test(getComputedStyle(e).overflowY))
    .forEach((e) => { e.scrollTop += 250; })"""


def open_templates(ui) -> None:
    """Open the Templates browser and show the pack's templates (its own entry in the dialog's list)."""
    ui.js("() => app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    entry = ui.page.get_by_text(PACK_LINK_NAME, exact=True).first
    entry.wait_for(state="visible", timeout=60_000)
    entry.click()
    ui.page.get_by_text(NAMES[0], exact=True).first.wait_for(state="visible", timeout=60_000)


def test_templates_browser_shows_the_pack_workflows_with_thumbnails(comfy_page, output_path):
    ui = comfy_page
    mark = len(ui.errors)
    api = ui.js("async () => (await (await fetch('api/workflow_templates')).json())")
    assert sorted(api[PACK_LINK_NAME]) == NAMES
    served = f"/workflow_templates/{PACK_LINK_NAME}/"
    fetched = set()

    def log(response):
        if served in unquote(response.url) and response.ok:
            fetched.add(unquote(response.url).rsplit("/", 1)[-1])

    ui.page.on("response", log)
    open_templates(ui)
    ui.page.screenshot(path=str(output_path(f"templates_frontend-{ui.version}.png")))
    # Every card shows its picture, fetched from the pack's workflows/ (the dialog loads the
    # pictures of the cards in view: scroll through it).
    shown = {}
    for _ in range(40):
        shown.update((name, width) for name, width in ui.js(CARDS_JS, NAMES) if width)
        if len(shown) == len(NAMES):
            break
        ui.js(SCROLL_JS)
        ui.page.wait_for_timeout(400)
    assert shown == {name: 512 for name in NAMES}
    ui.page.remove_listener("response", log)
    assert fetched >= {f"{name}.jpg" for name in NAMES}
    assert ui.errors_since(mark) == []


def test_a_template_opens_and_its_video_workflow_runs(comfy_page, comfy_host):
    """Clicking the demo T2V card opens the workflow; queued as the frontend reads it, Save Video (whose
    codec 0.33 nests under its format) writes the mp4 on every host."""
    ui = comfy_page
    mark = len(ui.errors)
    open_templates(ui)
    ui.page.get_by_text("ptdit_demo_t2v", exact=True).first.click()
    ui.page.wait_for_function("app.graph.nodes.some((n) => n.type === 'SaveVideo')", timeout=60_000)
    ui.page.keyboard.press("Escape")  # a dialog the frontend may show after loading (missing models: none here)
    with ui.page.expect_request(lambda r: r.url.endswith("/api/prompt") and r.method == "POST") as sent:
        ui.page.locator('[data-testid="queue-button"]').first.click()
    saver = next(n for n in sent.value.post_data_json["prompt"].values() if n["class_type"] == "SaveVideo")
    assert saver["inputs"]["filename_prefix"] == "ptdit_demo_t2v"
    response = sent.value.response()
    assert response.status == 200, response.text()
    result = comfy_host.wait(response.json()["prompt_id"], timeout=600)
    assert result.ok, result.describe()
    assert [f.suffix for f in comfy_host.output_files(result) if f.suffix != ".png"] == [".mp4"]
    assert ui.errors_since(mark) == []
