"""The pack's node help pages (web/docs/<node type>.md) in the real frontend's node help panel: a
node is added, clicked, and its Node Info button in the selection toolbox pressed, as a user would;
the panel must show the page's own text (not the node description the frontend falls back to)."""
from __future__ import annotations

import re

import pytest

from tests.browser.test_browser_proxy_ratio import fresh_graph, redraw
from tests.unit.test_help_pages import help_page, section

pytestmark = pytest.mark.browser

INFO_BUTTON = '[data-testid="info-button"], button[aria-label="Node Info"]'  # 1.3x; 1.4x and 1.5x
LOCALE_PAGE = re.compile(r"/docs/\w+/[\w-]+\.md$")  # asked for first; its 404 is logged as an error


def plain_start(markdown: str) -> str:
    """The first words of a paragraph, up to its first Markdown mark-up, as the panel shows them."""
    return " ".join(re.split(r"[`*(]", markdown.strip(), maxsplit=1)[0].split())


def press_node_info(ui, node_id) -> None:
    """Click the node's title, then the Node Info button of the selection toolbox that appears (on a
    busy CPU the canvas can miss a click: a user clicks again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # installed where a browser runs

    x, y = ui.js("""(id) => { const n = app.graph.getNodeById(id);
        const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + 60, n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT / 2]);
        const rect = app.canvas.canvas.getBoundingClientRect();
        return [rect.left + cx, rect.top + cy]; }""", node_id)
    button = ui.page.locator(INFO_BUTTON).first
    for _attempt in range(3):
        ui.page.mouse.click(x, y)
        redraw(ui)
        try:
            button.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeout:
            pass
    button.click()


@pytest.fixture
def ui(comfy_page):
    """The page on an empty graph; afterwards the help panel is closed and the graph emptied again,
    so that the next test module finds the frontend as it was (the panel and the graph persist)."""
    fresh_graph(comfy_page)
    yield comfy_page
    if comfy_page.page.get_by_role("heading", name=re.compile("^PT-DiT ")).first.is_visible():
        toggle = comfy_page.page.get_by_role("button", name="Toggle properties panel")  # 1.4x, 1.5x
        library = comfy_page.page.get_by_role("button", name=re.compile("^Node Library"))  # 1.3x: help in there
        (toggle if toggle.count() else library).first.click()
    fresh_graph(comfy_page)
    comfy_page.page.mouse.click(900, 600)  # on the empty canvas: the frontend stores the empty graph
    redraw(comfy_page)


@pytest.mark.parametrize("node_type", ["PTDiTProxyRatio", "PTDiTSamplerT2V"])
def test_help_panel_shows_the_node_page(ui, node_type, output_path):
    mark = len(ui.errors)
    node_id = ui.js("""(type) => { const n = LiteGraph.createNode(type); n.pos = [300, 260];
        app.graph.add(n); return n.id; }""", node_type)
    press_node_info(ui, node_id)
    page = help_page(node_type)
    description = plain_start(page.split("\n\n")[1])
    tip = plain_start(section(page, "Tip"))
    panel = ui.page.get_by_text(description)
    panel.first.wait_for(state="visible", timeout=30_000)
    ui.page.get_by_text(tip).first.scroll_into_view_if_needed()
    assert ui.page.get_by_text(tip).first.is_visible()
    shot = output_path(f"help_{node_type}_{ui.version}.png")
    ui.page.get_by_text(description).first.scroll_into_view_if_needed()
    ui.page.screenshot(path=str(shot))
    ours = [e for e in ui.errors_since(mark) if "ptdit" in (e[1] + e[2]).lower() and not LOCALE_PAGE.search(e[2])]
    assert ours == []
