"""The pack's subgraph blueprint ``subgraphs/PT-DiT Text to Image.json`` in the real frontend.

The hosts serve a pack's ``subgraphs/*.json`` (``/global_subgraphs``, ``app/subgraph_manager.py``) and
the frontend offers each as a node. The blueprint is added through the node search box like any
node, its image is wired to a Preview Image, and the Run button queues it: it runs with the demo
model it loads. The Proxy Ratio widget inside reads the demo model's trained ratio (1, 2, 2) from the
loader inside the blueprint, with no warning, before the subgraph is ever opened; then the
subgraph is opened for a screenshot.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_browser_proxy_ratio import READOUT_JS, add_via_search, fresh_graph, redraw
from tests.harness.base_dir import PACK_LINK_NAME

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NAME = "PT-DiT Text to Image"
INNER_RATIO_JS = """() => {
    const outer = app.graph.nodes.find((n) => n.isSubgraphNode?.());
    const inner = outer.subgraph.nodes.find((n) => n.type === 'PTDiTProxyRatio');
    return inner.widgets.find((w) => w.name === 'ptdit_ratio').element.dataset.trained;
}"""


def test_blueprint_runs_and_its_ratio_widget_reads_the_trained_ratio(comfy_page, comfy_host, output_path):
    ui = comfy_page
    mark = len(ui.errors)
    served = ui.js("async () => Object.values(await (await fetch('api/global_subgraphs')).json())"
                   ".map((e) => [e.name, e.info.node_pack])")
    assert [NAME, f"custom_nodes.{PACK_LINK_NAME}"] in served
    fresh_graph(ui)
    outer = add_via_search(ui, NAME, NAME, at=(400, 300), match="(n) => n.isSubgraphNode?.()")
    ids = ui.js("""(id) => {
        const outer = app.graph.getNodeById(id);
        const preview = LiteGraph.createNode('PreviewImage');
        preview.pos = [outer.pos[0] + outer.size[0] + 80, outer.pos[1]];
        app.graph.add(preview);
        outer.connect(0, preview, 0);
        return {outer: outer.id, preview: preview.id};
    }""", outer)
    redraw(ui)
    ui.page.wait_for_function(INNER_RATIO_JS, timeout=30_000)  # the route answered for the loader inside
    with ui.page.expect_response(lambda r: r.url.endswith("/api/prompt")) as answer:
        ui.page.locator('[data-testid="queue-button"]').first.click()
    assert answer.value.status == 200, answer.value.text()
    result = comfy_host.wait(answer.value.json()["prompt_id"], timeout=300)
    assert result.ok, result.describe()
    (image,) = [f for f in comfy_host.output_files(result, kind="images")]
    assert image.is_file()
    assert ui.js(INNER_RATIO_JS) == "[[1,2,2],[1,2,2]]"
    ui.page.screenshot(path=str(output_path(f"blueprint_frontend-{ui.version}.png")))

    # Inside: the widget shows the ratio the loader's file was trained with, and no warning.
    ui.js("""(id) => { const n = app.graph.getNodeById(id); app.canvas.openSubgraph(n.subgraph, n); }""", ids["outer"])
    inner = ui.js("""() => { const n = app.canvas.graph.nodes.find((n) => n.type === 'PTDiTProxyRatio');
        app.canvas.ds.scale = 1.2; app.canvas.ds.offset = [300 / 1.2 - n.pos[0], 90 / 1.2 - n.pos[1]];
        return n.id; }""")
    redraw(ui)
    ui.page.mouse.move(5, 600)
    ui.page.wait_for_timeout(600)  # the widget redraws at the new zoom within 250 ms
    readout = ui.js(READOUT_JS.replace("app.graph.getNodeById", "app.canvas.graph.getNodeById"), inner)
    assert readout["trained"].startswith("Trained ratio: window (1, 2, 2), proxy (1, 2, 2) · ptdit_demo_t2i")
    assert readout["warning"] == "" and readout["problems"] == ""
    ui.page.screenshot(path=str(output_path(f"blueprint_inside_frontend-{ui.version}.png")))
    # Frontend 1.32.9 logs this itself whenever a subgraph is opened (its GraphView), not the pack.
    stock = "Attempted to cleanup event listeners for graph that was never set up"
    assert [e for e in ui.errors_since(mark) if e[1] != stock] == []

