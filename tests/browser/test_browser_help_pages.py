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


def click_title(ui, node_id) -> None:
    x, y = ui.js("""(id) => { const n = app.graph.getNodeById(id);
        const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + 60, n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT / 2]);
        const rect = app.canvas.canvas.getBoundingClientRect();
        return [rect.left + cx, rect.top + cy]; }""", node_id)
    ui.page.mouse.click(x, y)
    redraw(ui)


@pytest.mark.parametrize("node_type", ["PTDiTProxyRatio", "PTDiTSamplerT2V"])
def test_help_panel_shows_the_node_page(comfy_page, node_type, output_path):
    ui = comfy_page
    fresh_graph(ui)
    mark = len(ui.errors)
    node_id = ui.js("""(type) => { const n = LiteGraph.createNode(type); n.pos = [300, 260];
        app.graph.add(n); return n.id; }""", node_type)
    click_title(ui, node_id)
    ui.page.locator(INFO_BUTTON).first.click()
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
