"""The Proxy Ratio widget (web/) in the real ComfyUI frontend, in headless Chromium.

One page for the module: the node is added through the node search box, the pickers are driven
like a user would (select elements, the canvas number widget's arrow), and the read-out, the prompt
the Run button queues, what the Python node then applies, a workflow exported and re-opened after a
page reload, and a hand-edited bad workflow are checked. The shipped demo workflow must read the
trained ratio of the model file it loads (from the file's metadata, through the pack's route), and
of the model the node last ran on once no loader is wired in; without DOM widgets the node keeps
its plain inputs and a text read-out. Tests taking ``renderer`` also run with the Vue node
renderer; screenshots are named after the frontend version and renderer. Console errors logged
while the widget is used fail the test (the stock frontend logs some 404s at start-up; not ours).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptdit import WindowSettings
from ptdit.checkpoint import read_safetensors_metadata
from ptdit.complexity import attention_ratio, latent_grid
from ptdit.loader import config_from_metadata
from tests.unit.test_ratio_math_js import pack_module

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DEMO_WORKFLOW = REPO / "workflows" / "ptdit_demo_t2i.json"
DEMO_MODEL = REPO / "demo_models" / "ptdit" / "ptdit_demo_t2i.safetensors"
RATIO = "PTDiTProxyRatio"
MATH_URL = "/extensions/ComfyUI-PTDiT/ptdit_ratio_math.js"
RATIO_NAMES = ["window_f", "window_h", "window_w", "proxy_f", "proxy_h", "proxy_w"]
WIDGET_ORDER = ["mode", *RATIO_NAMES, "width", "height", "frames"]

NODE_JS = "(id) => app.graph.getNodeById(id)"
VALUES_JS = """(id) => Object.fromEntries(app.graph.getNodeById(id).widgets
    .filter((w) => w.serialize !== false).map((w) => [w.name, w.value]))"""
READOUT_JS = """(id) => {
    const root = app.graph.getNodeById(id).widgets.find((w) => w.name === 'ptdit_ratio').element;
    const out = Object.fromEntries([...root.querySelectorAll('[data-readout]')]
        .map((e) => [e.dataset.readout, e.style.display === 'none' ? '' : e.textContent]));
    out.ratio = root.dataset.ratio;
    out.trainedRatio = root.dataset.trained;
    out.options = Object.fromEntries([...root.querySelectorAll('select')]
        .map((s) => [s.dataset.ratio, [...s.options].map((o) => o.textContent)]));
    return out;
}"""


TRAINED_KNOWN_JS = """(id) => app.graph.getNodeById(id).widgets
    .find((w) => w.name === 'ptdit_ratio').element.dataset.trained"""
UNKNOWN = "Trained ratio not known yet: connect a PT-DiT Model Loader, or run the workflow once"


def triple(r) -> str:
    return f"({', '.join(map(str, r))})"


def python_percent(grid, window, proxy) -> tuple[float, str]:
    ratio = attention_ratio(grid, WindowSettings(window, proxy))
    return ratio, f"Attention {100 * ratio:.2f} % of full self-attention"


def redraw(ui) -> None:
    """Let the canvas draw (the widget refreshes when its node is drawn): mark it dirty, wait for
    two animation frames (the frontend draws in the first), then 150 ms for what it schedules."""
    ui.js("""() => new Promise((done) => { app.graph.setDirtyCanvas(true, true);
        requestAnimationFrame(() => requestAnimationFrame(done)); })""")
    ui.page.wait_for_timeout(150)


def readout(ui, node_id) -> dict:
    redraw(ui)
    return ui.js(READOUT_JS, node_id)


def close_dialogs(ui) -> None:
    """Close what a previous test left open (the frontend's error dialog) with Escape, as a user would."""
    dialogs = ui.page.locator('[role="dialog"]:visible, [role="alertdialog"]:visible')
    for _ in range(3):
        if not dialogs.count():
            return
        ui.page.keyboard.press("Escape")
        ui.page.wait_for_timeout(300)
    assert not dialogs.count(), "a dialog does not close"


def fresh_graph(ui) -> None:
    """Remove every node, as a user deleting them would; new nodes get new ids (1.4x frontends keep
    widget values by node id: after ``graph.clear()`` a new node 1 would get the old node 1's values)."""
    close_dialogs(ui)
    ui.js("""() => { for (const n of [...app.graph.nodes]) app.graph.remove(n);
        app.canvas.ds.scale = 1; app.canvas.ds.offset = [0, 0]; }""")
    redraw(ui)


def add_via_search(ui, query: str, node_type: str, at=(760, 420), match: str | None = None) -> int:
    """Double-click the empty canvas, type into the node search box, click the result. The box and
    its results are an ARIA combobox and options in every frontend (PrimeVue's up to 1.3x, the new
    dialog from 1.4x). ``match`` (a JS predicate on a node) finds the new node when its type is not
    ``node_type`` (a blueprint's node has the type of its subgraph)."""
    match = match or f"(n) => n.type === '{node_type}'"
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # installed where a browser runs

    box = ui.page.locator('input[role="combobox"]:visible').first
    for _attempt in range(3):  # on a busy CPU the canvas can miss a double-click: a user tries again
        under = ui.js("([x, y]) => { const e = document.elementFromPoint(x, y); return e && e.tagName; }", list(at))
        ui.page.mouse.move(*at)
        ui.page.mouse.dblclick(*at)
        try:
            box.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeout:
            ui.page.keyboard.press("Escape")
            redraw(ui)
    else:
        pytest.fail(f"no node search box after three double-clicks at {at} (element there: {under})")
    box.fill(query)
    option = ui.page.locator('[role="option"]', has_text=query).first
    option.wait_for(state="visible")
    option.click()
    box.wait_for(state="hidden")
    ui.page.wait_for_function(f"app.graph.nodes.some({match})")
    if ui.js("() => app.graph.nodes.some((n) => n.flags?.ghost)"):
        # From 1.4x the new node follows the pointer as a ghost until a click places it.
        ui.page.mouse.move(*at)
        ui.page.mouse.click(*at)
    ui.page.wait_for_function(f"app.graph.nodes.some((n) => ({match})(n) && !n.flags?.ghost)")
    return ui.js(f"app.graph.nodes.find({match}).id")


def open_workflow(ui, path: Path) -> int:
    """File > Open of a workflow on an empty graph; returns the Proxy Ratio node's id."""
    fresh_graph(ui)
    ui.page.set_input_files("#comfy-file-input", str(path))
    ui.page.wait_for_function(f"app.graph.nodes.some((n) => n.type === '{RATIO}')")
    return ui.js(f"app.graph.nodes.find((n) => n.type === '{RATIO}').id")


def focus(ui, node_id, scale: float = 1.6) -> None:
    """Zoom the canvas onto a node (its top-left at 300, 90 px) for a screenshot."""
    ui.js("""([id, z]) => { const n = app.graph.getNodeById(id);
        app.canvas.ds.scale = z; app.canvas.ds.offset = [300 / z - n.pos[0], 90 / z - n.pos[1]]; }""",
          [node_id, scale])
    redraw(ui)
    ui.page.mouse.move(5, 600)  # no hover tooltip over the node
    ui.page.wait_for_timeout(600)  # the widget redraws at the new zoom within 250 ms


def demo_checkpoint():
    """The demo model's trained ratios (its file's metadata) and what checkpoint mode runs at 64 px."""
    config = config_from_metadata(read_safetensors_metadata(DEMO_MODEL))
    grid = (1, 4, 4)  # 64 x 64 px: 8 x 8 latent, patch 2
    return config, grid, pack_module("nodes.options").WindowOptions("checkpoint").resolve(config, grid)


def build_graph(ui) -> dict:
    """Toy MODEL -> Proxy Ratio (added through the search box) -> options report."""
    fresh_graph(ui)
    ratio = add_via_search(ui, "PT-DiT Proxy Ratio", RATIO)
    ids = ui.js("""(ratio) => {
        const add = (type, pos) => { const n = LiteGraph.createNode(type); n.pos = pos; app.graph.add(n); return n; };
        const model = add('PTDiTProbeModel', [40, 140]);
        const report = add('PTDiTProbeModelOptions', [760, 140]);
        const node = app.graph.getNodeById(ratio);
        node.pos = [360, 110];
        model.connect(0, node, 0);
        node.connect(0, report, 0);
        return {model: model.id, ratio, report: report.id};
    }""", ratio)
    redraw(ui)
    return ids


def pick(ui, name: str, value: int) -> None:
    ui.page.select_option(f'.ptdit-ratio select[data-ratio="{name}"]', str(value))
    redraw(ui)


def click_widget_arrow(ui, node_id, name: str, side: str) -> None:
    """Click the left (decrement) or right (increment) arrow of a canvas number widget."""
    x, y = ui.js("""([id, name, side]) => {
        const n = app.graph.getNodeById(id);
        const w = n.widgets.find((w) => w.name === name);
        const gx = n.pos[0] + (side === 'left' ? 24 : n.size[0] - 24);
        const gy = n.pos[1] + w.y + LiteGraph.NODE_WIDGET_HEIGHT / 2;
        const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([gx, gy]);
        const rect = app.canvas.canvas.getBoundingClientRect();
        return [rect.left + cx, rect.top + cy];
    }""", [node_id, name, side])
    ui.page.mouse.click(x, y)
    redraw(ui)


def test_extension_loads_without_errors(comfy_page):
    assert comfy_page.js("() => app.extensions.filter((e) => e.name.startsWith('ptditqihoot2x.')).map((e) => e.name)") \
        == ["ptditqihoot2x.ProxyRatio"]
    ours = [e for e in comfy_page.startup_errors + comfy_page.errors
            if "ComfyUI-PTDiT" in e[1] + e[2] or "ptdit" in e[1].lower()]
    assert ours == []


def test_math_module_served_to_the_page_agrees_with_python(comfy_page):
    cases = [((1, 64, 64), (1, 8, 8), (1, 8, 8)), ((1, 52, 76), (1, 8, 8), (1, 8, 8)),
             ((5, 32, 32), (4, 4, 4), (4, 2, 4)), ((1, 16, 16), (1, 2, 2), (1, 1, 1))]
    got = comfy_page.js("""async ([url, cases]) => {
        const m = await import(url);
        return cases.map(([g, window, proxy]) => m.readout(g, {window, proxy}).ratio);
    }""", [MATH_URL, cases])
    assert got == [attention_ratio(g, WindowSettings(w, p)) for g, w, p in cases]


def test_pick_ratios_readout_and_queued_prompt(comfy_page, comfy_host):
    ui = comfy_page
    mark = len(ui.errors)
    ids = build_graph(ui)
    node = ids["ratio"]

    # Defaults: auto mode at 1024 x 1024 follows the paper's table, (1, 8, 8): 4.71 %.
    ro = readout(ui, node)
    ratio, text = python_percent((1, 64, 64), (1, 8, 8), (1, 8, 8))
    assert ro["tokens"] == "Tokens 1 × 64 × 64 = 4,096"
    assert ro["windows"] == "Windows 1 × 8 × 8 tokens \u2192 64 windows (1 × 8 × 8)"
    assert ro["proxies"] == "Proxy tokens 64 (1 per window)"
    assert ro["cost"] == text == "Attention 4.71 % of full self-attention"
    assert float(ro["ratio"]) == ratio
    assert ro["warning"] == "" and ro["problems"] == ""
    assert ro["trained"] == UNKNOWN  # the toy MODEL is no PT-DiT checkpoint: nothing to compare with
    assert ro["options"]["window_h"] == ["1", "2", "4", "8", "16", "32", "64"]
    assert ro["options"]["window_f"] == ["1"] and ro["options"]["proxy_f"] == ["1"]
    assert ui.js(VALUES_JS, node)["mode"] == "auto"
    # The six ratio INT widgets are hidden (and take no room); the picker widget is not serialised.
    hidden = ui.js("""(id) => app.graph.getNodeById(id).widgets.filter((w) => w.hidden)
        .map((w) => [w.name, w.computedHeight || 0])""", node)  # 1.4x frontends do not lay them out at all
    assert hidden == [[name, 0] for name in RATIO_NAMES]

    # Picking a window switches to manual; the proxy follows so that it still divides the window.
    pick(ui, "window_h", 4)
    values = ui.js(VALUES_JS, node)
    assert values["mode"] == "manual"
    assert [values[n] for n in RATIO_NAMES] == [1, 4, 8, 1, 4, 8]
    pick(ui, "proxy_w", 2)
    ro = readout(ui, node)
    assert ro["options"]["proxy_w"] == ["1", "2", "4", "8"]
    ratio, text = python_percent((1, 64, 64), (1, 4, 8), (1, 4, 2))
    assert ro["cost"] == text and float(ro["ratio"]) == ratio
    assert ro["proxies"] == "Proxy tokens 512 (4 per window)"
    assert ro["warning"] == ""  # no trained ratio known: no warning guessed

    # A width that the window no longer tiles (canvas arrow: 1024 -> 1008 px = 63 token columns).
    click_widget_arrow(ui, node, "width", "left")
    assert ui.js(VALUES_JS, node)["width"] == 1008
    ro = readout(ui, node)
    assert ro["problems"] == "window_w=8 does not divide the 63 token columns; allowed: 1, 3, 7, 9, 21, 63"
    assert ro["options"]["window_w"] == ["1", "3", "7", "8 (invalid)", "9", "21", "63"]
    pick(ui, "window_w", 9)
    ro = readout(ui, node)
    assert ro["problems"] == ""
    values = ui.js(VALUES_JS, node)
    assert [values[n] for n in RATIO_NAMES] == [1, 4, 9, 1, 4, 9]  # proxy 2 does not divide 9
    ratio, text = python_percent((1, 64, 63), (1, 4, 9), (1, 4, 9))
    assert ro["cost"] == text

    # The Run button queues the values; Python validates them and applies them to the MODEL.
    with ui.page.expect_request(lambda r: r.url.endswith("/api/prompt") and r.method == "POST") as sent:
        ui.page.locator('[data-testid="queue-button"]').first.click()
    body = sent.value.post_data_json
    inputs = body["prompt"][str(node)]["inputs"]
    assert inputs == {"model": [str(ids["model"]), 0], "mode": "manual", "window_f": 1, "window_h": 4,
                      "window_w": 9, "proxy_f": 1, "proxy_h": 4, "proxy_w": 9, "width": 1008,
                      "height": 1024, "frames": 1}
    saved = next(n for n in body["extra_data"]["extra_pnginfo"]["workflow"]["nodes"] if str(n["id"]) == str(node))
    assert saved["widgets_values"] == ["manual", 1, 4, 9, 1, 4, 9, 1008, 1024, 1]
    response = sent.value.response()
    assert response.status == 200, response.text()
    result = comfy_host.wait(response.json()["prompt_id"], timeout=120)
    assert result.ok, result.describe()
    applied = json.loads(result.outputs[str(ids["report"])]["text"][0])
    assert (applied["mode"], applied["window"], applied["proxy"]) == ("manual", [1, 4, 9], [1, 4, 9])
    assert ui.errors_since(mark) == []


@pytest.mark.parametrize("zoom", [0.7, 1.0, 2.5])  # 1.4x frontends hide DOM widgets at their low-detail zoom
def test_widget_follows_canvas_zoom(comfy_page, zoom):
    ui = comfy_page
    mark = len(ui.errors)
    node = build_graph(ui)["ratio"]
    geometry = ui.js("""([id, z]) => {
        const n = app.graph.getNodeById(id);
        const w = n.widgets.find((w) => w.name === 'ptdit_ratio');
        app.canvas.ds.scale = z;  // the picker's top-left at (360, 200) px of the canvas
        app.canvas.ds.offset = [360 / z - n.pos[0], 200 / z - n.pos[1] - w.y];
        return {nodeWidth: n.size[0], margin: w.margin};
    }""", [node, zoom])
    redraw(ui)
    width = (geometry["nodeWidth"] - 2 * geometry["margin"]) * zoom
    canvas_js = "() => { const c = document.querySelector('.ptdit-ratio canvas'); return [c.width, c.clientWidth]; }"
    # The frontend moves DOM widgets on its next canvas frame and the widget redraws its canvas at
    # the new zoom within 250 ms; both can take seconds on a busy CPU.
    for _ in range(40):
        box, canvas = ui.page.locator(".ptdit-ratio").bounding_box(), ui.js(canvas_js)
        if box["width"] == pytest.approx(width, abs=2) and canvas[0] == pytest.approx(canvas[1] * zoom, abs=1):
            break
        redraw(ui)
    assert box["width"] == pytest.approx(width, abs=2)
    assert canvas[0] == pytest.approx(canvas[1] * zoom, abs=1)  # drawn at the zoomed resolution
    # The picker is on top where it is drawn, and still works.
    target = ui.js("""() => { const s = document.querySelector('.ptdit-ratio select[data-ratio="window_h"]');
        const r = s.getBoundingClientRect();
        return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === s; }""")
    assert target
    pick(ui, "window_h", 16)
    ro = readout(ui, node)
    assert ro["windows"] == "Windows 1 × 16 × 8 tokens \u2192 32 windows (1 × 4 × 8)"
    assert ui.errors_since(mark) == []


def test_saved_workflow_reloads(comfy_page, comfy_host, output_path):
    ui = comfy_page
    mark = len(ui.errors)
    node = build_graph(ui)["ratio"]
    ui.js("(id) => { const n = app.graph.getNodeById(id); n.widgets.find((w) => w.name === 'height').value = 768; }",
          node)
    pick(ui, "window_w", 16)
    pick(ui, "proxy_w", 8)
    before_values, before = ui.js(VALUES_JS, node), readout(ui, node)
    assert before["tokens"] == "Tokens 1 × 48 × 64 = 3,072"
    assert [before_values[n] for n in RATIO_NAMES] == [1, 8, 16, 1, 8, 8]

    # Export through the frontend's own command (the file a user saves), then reload the page.
    with ui.page.expect_download() as download:
        ui.js("() => app.extensionManager.command.execute('Comfy.ExportWorkflow')")
    saved = output_path("ptdit_proxy_ratio.json")
    download.value.save_as(saved)
    workflow = json.loads(saved.read_text())
    stored = next(n for n in workflow["nodes"] if n["type"] == RATIO)
    assert stored["widgets_values"] == [before_values[n] for n in WIDGET_ORDER]

    ui.open()
    node = open_workflow(ui, saved)
    assert ui.js(VALUES_JS, node) == before_values
    after = readout(ui, node)
    assert after == before

    ui.js("""(id) => { const n = app.graph.getNodeById(id);
        app.canvas.ds.scale = 1.15; app.canvas.ds.offset = [30 - n.pos[0] + 320, 70 - n.pos[1]]; }""", node)
    redraw(ui)
    shot = output_path("ptdit_proxy_ratio.png")
    ui.page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    assert ui.errors_since(mark) == []


def test_hand_edited_bad_workflow_gets_a_node_error(comfy_page, output_path):
    ui = comfy_page
    good = output_path("ptdit_proxy_ratio.json")
    if not good.is_file():
        pytest.skip("needs the workflow saved by test_saved_workflow_reloads")
    workflow = json.loads(good.read_text())
    stored = next(n for n in workflow["nodes"] if n["type"] == RATIO)
    stored["widgets_values"][WIDGET_ORDER.index("window_h")] = 7  # 768 px = 48 token rows
    stored["widgets_values"][WIDGET_ORDER.index("proxy_h")] = 7
    bad = output_path("ptdit_proxy_ratio_bad.json")
    bad.write_text(json.dumps(workflow))

    node = open_workflow(ui, bad)
    ro = readout(ui, node)
    message = "window_h=7 does not divide the 48 token rows"
    assert ro["problems"].startswith(message)
    assert "7 (invalid)" in ro["options"]["window_h"]

    mark = len(ui.errors)
    with ui.page.expect_response(lambda r: r.url.endswith("/api/prompt")) as answer:
        ui.page.locator('[data-testid="queue-button"]').first.click()
    assert answer.value.status == 400
    errors = answer.value.json()["node_errors"][str(node)]["errors"]
    assert errors and all(message in e["details"] for e in errors)
    ui.page.get_by_text(message).first.wait_for(state="visible")  # the frontend's error dialog
    ui.page.screenshot(path=str(output_path("ptdit_proxy_ratio_error.png")))
    # The only console error is the frontend's own report of the rejected prompt.
    assert [e for e in ui.errors_since(mark) if "Prompt execution failed" not in e[1]
            and "status of 400" not in e[1]] == []


def test_demo_workflow_reads_the_trained_ratio_of_its_model(rendered_page, renderer, output_path):
    ui = rendered_page
    mark = len(ui.errors)
    config, grid, used = demo_checkpoint()
    assert used.window == used.proxy == (1, 2, 2)  # the demo model's ratio, at 64 px as trained
    node = open_workflow(ui, DEMO_WORKFLOW)
    ui.page.wait_for_function(TRAINED_KNOWN_JS, arg=node)  # the route answered
    ro = readout(ui, node)
    values = ui.js(VALUES_JS, node)
    assert (values["mode"], values["width"], values["height"], values["frames"]) == ("checkpoint", 64, 64, 1)
    assert ro["trained"] == (f"Trained ratio: window {triple(config.compress_ratios)}, proxy "
                             f"{triple(config.proxy_ratios)} · {DEMO_MODEL.name} metadata")
    assert json.loads(ro["trainedRatio"]) == [list(config.compress_ratios), list(config.proxy_ratios)]
    assert ro["windows"] == "Windows 1 × 2 × 2 tokens \u2192 4 windows (1 × 2 × 2)"
    assert ro["proxies"] == "Proxy tokens 4 (1 per window)"
    ratio, text = python_percent(grid, used.window, used.proxy)
    assert ro["cost"] == text and float(ro["ratio"]) == ratio
    assert ro["warning"] == "" and ro["problems"] == ""
    assert [values[n] for n in RATIO_NAMES] == [*used.window, *used.proxy]  # what the sampler runs
    focus(ui, node)
    assert ui.js("""(id) => { const r = app.graph.getNodeById(id).widgets.find((w) => w.name === 'ptdit_ratio')
        .element.getBoundingClientRect(); return r.width > 100 && r.height > 100; }""", node)
    ui.page.screenshot(path=str(output_path(f"ptdit_demo_t2i_frontend-{ui.version}_{renderer}.png")))

    # A manual pick that departs from the demo model's ratio is flagged against that ratio.
    pick(ui, "window_h", 4)
    ro = readout(ui, node)
    assert ro["windows"] == "Windows 1 × 4 × 2 tokens \u2192 2 windows (1 × 1 × 2)"
    assert ro["warning"] == f"\u26a0 Differs from the checkpoint's trained ratio: window {triple(used.window)}, " \
                            f"proxy {triple(used.proxy)}"

    # Without a loader upstream nothing is known: checkpoint mode shows no numbers, no guess.
    ui.js("(id) => { const n = app.graph.getNodeById(id); n.disconnectInput(0); }", node)
    ui.js("(id) => { const w = app.graph.getNodeById(id).widgets.find((w) => w.name === 'mode'); "
          "w.value = 'checkpoint'; w.callback?.(w.value); }", node)
    ro = readout(ui, node)
    assert ro["trained"] == UNKNOWN and ro["trainedRatio"] == "" and ro["ratio"] == ""
    assert ro["windows"] == ro["cost"] == ro["warning"] == ""
    assert ro["tokens"] == "Tokens 1 × 4 × 4 = 16"
    assert ui.errors_since(mark) == []


def test_checkpoint_ratio_is_learned_from_the_last_run(comfy_page, comfy_host):
    ui = comfy_page
    mark = len(ui.errors)
    config, grid, used = demo_checkpoint()
    fresh_graph(ui)
    ids = ui.js("""([name]) => {
        const add = (type, pos) => { const n = LiteGraph.createNode(type); n.pos = pos; app.graph.add(n); return n; };
        const loader = add('PTDiTModelLoader', [40, 140]);
        loader.widgets.find((w) => w.name === 'model_name').value = name;
        const ratio = add('PTDiTProxyRatio', [400, 110]);
        for (const [k, v] of [['mode', 'checkpoint'], ['width', 64], ['height', 64]]) {
            ratio.widgets.find((w) => w.name === k).value = v;
        }
        const report = add('PTDiTProbeModelOptions', [760, 140]);
        loader.connect(0, ratio, 0);
        ratio.connect(0, report, 0);
        return {ratio: ratio.id, report: report.id};
    }""", [DEMO_MODEL.name])
    node = ids["ratio"]
    with ui.page.expect_response(lambda r: r.url.endswith("/api/prompt")) as answer:
        ui.page.locator('[data-testid="queue-button"]').first.click()
    result = comfy_host.wait(answer.value.json()["prompt_id"], timeout=120)
    assert result.ok, result.describe()
    assert result.outputs[str(node)]["ptdit_trained"][0]["window"] == list(config.compress_ratios)

    ui.js("(id) => app.graph.getNodeById(id).disconnectInput(0)", node)  # no loader upstream any more
    ro = readout(ui, node)
    assert ro["trained"] == (f"Trained ratio: window {triple(config.compress_ratios)}, proxy "
                             f"{triple(config.proxy_ratios)} · learned from the last run ({DEMO_MODEL.name})")
    assert ro["windows"].startswith(f"Windows {' × '.join(map(str, used.window))} tokens")
    assert ro["warning"] == ""
    assert ui.errors_since(mark) == []


def test_without_dom_widgets_the_node_keeps_plain_inputs_and_a_text_readout(rendered_page, renderer,
                                                                             output_path):
    """A frontend whose renderer offers no DOM widgets gets the six inputs and the read-out as text."""
    ui = rendered_page
    mark = len(ui.errors)
    fresh_graph(ui)
    node = ui.js(f"""() => {{
        let proto = LiteGraph.registered_node_types['{RATIO}'].prototype;
        while (proto && !Object.hasOwn(proto, 'addDOMWidget')) proto = Object.getPrototypeOf(proto);
        const keep = proto.addDOMWidget;
        proto.addDOMWidget = undefined;  // as on a renderer without DOM widgets
        try {{
            const n = LiteGraph.createNode('{RATIO}');
            n.pos = [300, 90];
            app.graph.add(n);
            return n.id;
        }} finally {{ proto.addDOMWidget = keep; }}
    }}""")
    redraw(ui)
    widgets = ui.js("(id) => app.graph.getNodeById(id).widgets.map((w) => [w.name, !!w.hidden])", node)
    assert widgets == [[name, False] for name in WIDGET_ORDER] + [["ptdit_readout", False]]
    text = lambda: ui.js("(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'ptdit_readout').value",
                         node)

    def expected(width: int, height: int) -> list:
        grid = latent_grid(height, width)
        paper = WindowSettings.paper_default(grid)
        return [python_percent(grid, paper.window, paper.proxy)[1],
                f"Windows {' × '.join(map(str, paper.window))} tokens", UNKNOWN,
                f"Tokens 1 × {grid[1]} × {grid[2]} = {grid[1] * grid[2]:,}"]

    def shown() -> list:
        parts = text().split(" · ")
        return [parts[0], parts[1].split(" \u2192")[0], parts[2], parts[-1]]

    values = ui.js(VALUES_JS, node)  # the defaults (the Vue renderer may restore a previous node's)
    assert shown() == expected(values["width"], values["height"])
    width = 512 if values["width"] != 512 else 768
    ui.js("([id, v]) => { const w = app.graph.getNodeById(id).widgets.find((w) => w.name === 'width'); "
          "w.value = v; w.callback?.(w.value); }", [node, width])
    redraw(ui)
    assert shown() == expected(width, values["height"])
    focus(ui, node, 1.2)
    ui.page.screenshot(path=str(output_path(f"ptdit_proxy_ratio_text_fallback_frontend-{ui.version}_{renderer}.png")))
    assert ui.errors_since(mark) == []
