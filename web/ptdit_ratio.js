/**
 * PT-DiT Proxy Ratio widget (ComfyUI frontend extension).
 *
 * Adds to the PTDiTProxyRatio node: pickers that only offer valid window and proxy ratios for the
 * node's preview size, the window grid drawn over a latent-sized canvas, and a read-out (tokens,
 * windows, proxy tokens, attention cost vs full self-attention) with a warning when the ratio
 * departs from the wired-in checkpoint's trained ratio. That ratio comes from the file chosen in the
 * upstream PT-DiT Model Loader (its ptdit_config metadata, GET /ptdit/trained_ratio) or from the
 * node's last run (UI output); until then the read-out says it is not known. The six ratio INT
 * widgets remain the node's values (they serialise into the workflow and the API prompt, and Python
 * re-validates them); they are hidden and written by the pickers. Where the renderer offers no DOM
 * widget, they stay visible and a text widget carries the read-out. Numbers: ./ptdit_ratio_math.js.
 */
import { api } from "../../scripts/api.js";
import { app } from "../../scripts/app.js";
import * as M from "./ptdit_ratio_math.js";

const NODE = "PTDiTProxyRatio";
const LOADER = "PTDiTModelLoader";
const TRAINED_ROUTE = "/ptdit/trained_ratio?model_name=";
const UI_KEY = "ptdit_trained"; // nodes/trained_ratio.py
const RATIOS = ["window_f", "window_h", "window_w", "proxy_f", "proxy_h", "proxy_w"];
const AXIS_TITLES = ["frames", "rows", "columns"];
const HEIGHT = 320; // widget height in canvas units
const CANVAS_HEIGHT = 96;
const COLORS = { bg: "#1b1f27", tokens: "#39465a", pad: "#6b3b3b", window: "#63b3ff", proxy: "#ffd166" };
const views = new WeakMap(); // node -> { root, selects, canvas, lines, key, learned }
const fileReports = new Map(); // model file name -> the route's answer, or null while it is asked

const widgetOf = (node, name) => node.widgets?.find((w) => w.name === name);
const fmt = (n) => n.toLocaleString("en-US");
const triple = (r) => `(${r.join(", ")})`;

function el(tag, style = "", props = {}) {
  const e = document.createElement(tag);
  e.style.cssText = style;
  return Object.assign(e, props);
}

/** The model file chosen in the PT-DiT Model Loader feeding `node`'s MODEL (through MODEL nodes), or null. */
function upstreamModelFile(node) {
  const seen = new Set();
  for (let n = node; n && !seen.has(n); ) {
    seen.add(n);
    if (n.type === LOADER) return widgetOf(n, "model_name")?.value ?? null;
    const slot = n.inputs?.findIndex((i) => i.type === "MODEL" || (n.type === "Reroute" && i.link != null)) ?? -1;
    n = slot >= 0 && n.graph ? n.getInputNode(slot) : null; // not in a graph yet: nothing upstream
  }
  return null;
}

/** The workflow's nodes: the root graph's and those inside its subgraphs (blueprints). */
function allNodes() {
  const graphs = [app.graph, ...(app.graph?.subgraphs?.values?.() ?? [])];
  return graphs.flatMap((g) => g?.nodes ?? []);
}

/** The route's answer for a model file (cached); null while it is being asked. */
function fileReport(name) {
  if (fileReports.has(name)) return fileReports.get(name);
  fileReports.set(name, null);
  api.fetchApi(TRAINED_ROUTE + encodeURIComponent(name))
    .then(async (r) => (r.ok ? r.json() : { known: false, reason: `the server answered ${r.status}` }))
    .catch((e) => ({ known: false, reason: `the server could not be asked (${e})` }))
    .then((answer) => {
      fileReports.set(name, answer);
      for (const n of allNodes()) if (n.type === NODE) refresh(n);
    });
  return null;
}

/** { window, proxy, source } of the checkpoint that is wired in, or { unknown: why }. */
function trainedOf(node) {
  const learned = views.get(node)?.learned;
  const file = upstreamModelFile(node);
  if (!file) {
    return learned ? { ...learned, source: `learned from the last run (${learned.model_name})` }
      : { unknown: "connect a PT-DiT Model Loader, or run the workflow once" };
  }
  const answer = fileReport(file);
  if (answer?.known) return { window: answer.window, proxy: answer.proxy, source: `${file} metadata` };
  if (learned?.model_name === file) return { ...learned, source: `learned from the last run (${file})` };
  return { unknown: answer ? `${file}: ${answer.reason}` : `reading ${file}…` };
}

/** Everything the read-out depends on, taken from the node's widgets and its checkpoint. */
function stateOf(node) {
  const value = (name) => widgetOf(node, name)?.value;
  const largest = widgetOf(node, "window_h")?.options?.max ?? 64;
  const mode = value("mode");
  const manual = { window: RATIOS.slice(0, 3).map(value), proxy: RATIOS.slice(3).map(value) };
  const size = ["width", "height", "frames"].map(value);
  const grid = M.tokenGrid(...size);
  const trained = trainedOf(node);
  const known = trained.unknown ? null : trained;
  const effective = grid ? M.effectiveRatios(mode, grid, manual, known) : manual;
  const reference = grid && known ? M.checkpointDefault(grid, known) : null; // what checkpoint mode runs here
  const problems = grid && mode === "manual" ? M.problems(grid, effective, largest) : [];
  return { mode, manual, size, grid, trained, effective, reference, problems, largest };
}

function setValue(node, name, v) {
  const w = widgetOf(node, name);
  if (w && w.value !== v) w.value = v;
}

/** Largest valid value not above v (else the smallest): a pick always yields valid ratios. */
function snap(v, valid) {
  return valid.filter((d) => d <= v).pop() ?? valid[0];
}

function pick(node, kind, axis, v) {
  const s = stateOf(node);
  if (!s.grid || !s.effective) return;
  const win = [...s.effective.window];
  const proxy = [...s.effective.proxy];
  (kind === "window" ? win : proxy)[axis] = v;
  const fitted = win.map((w, i) => snap(w, M.divisors(s.grid[i], s.largest)));
  proxy[0] = fitted[0];
  for (const i of [1, 2]) if (!(proxy[i] >= 1) || fitted[i] % proxy[i]) proxy[i] = fitted[i];
  setValue(node, "mode", "manual");
  [...fitted, ...proxy].forEach((r, i) => setValue(node, RATIOS[i], r));
  refresh(node, true);
  node.setDirtyCanvas?.(true, true);
}

function fillSelect(select, values, current, note) {
  const options = values.includes(current) ? values : [...values, current].sort((a, b) => a - b);
  select.replaceChildren(...options.map((v) => {
    const valid = values.includes(v);
    return el("option", "", { value: String(v), textContent: valid ? String(v) : `${v} (${note})` });
  }));
  select.value = String(current);
}

/** On-screen scale of an element (the canvas zoom; both renderers scale the DOM with a CSS transform). */
function zoomOf(element) {
  const width = element?.clientWidth;
  const zoom = width ? element.getBoundingClientRect().width / width : 0;
  return zoom > 0 ? zoom : app.canvas?.ds?.scale || 1;
}

function drawGrid(canvas, s, r) {
  const scale = (window.devicePixelRatio || 1) * zoomOf(canvas);
  const cssW = canvas.clientWidth || 200;
  const cssH = CANVAS_HEIGHT;
  canvas.width = Math.max(1, Math.round(cssW * scale));
  canvas.height = Math.max(1, Math.round(cssH * scale));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.fillStyle = COLORS.bg;
  ctx.fillRect(0, 0, cssW, cssH);
  if (!r) return;
  const [, rows, cols] = r.padded;
  const cell = Math.min((cssW - 8) / cols, (cssH - 8) / rows);
  const x0 = (cssW - cell * cols) / 2;
  const y0 = (cssH - cell * rows) / 2;
  ctx.fillStyle = COLORS.pad;
  ctx.fillRect(x0, y0, cell * cols, cell * rows);
  ctx.fillStyle = COLORS.tokens;
  ctx.fillRect(x0, y0, cell * s.grid[2], cell * s.grid[1]);
  const [, wh, ww] = s.effective.window;
  ctx.strokeStyle = COLORS.window;
  ctx.lineWidth = Math.min(1, Math.max(0.25, (cell * Math.min(wh, ww)) / 4));
  ctx.beginPath();
  for (let y = 0; y <= rows; y += wh) { ctx.moveTo(x0, y0 + y * cell); ctx.lineTo(x0 + cols * cell, y0 + y * cell); }
  for (let x = 0; x <= cols; x += ww) { ctx.moveTo(x0 + x * cell, y0); ctx.lineTo(x0 + x * cell, y0 + rows * cell); }
  ctx.stroke();
  // Proxy tokens per window, as dots (each one averages a strided subset of the window).
  const [ph, pw] = [wh / s.effective.proxy[1], ww / s.effective.proxy[2]];
  const [dx, dy] = [(ww * cell) / pw, (wh * cell) / ph];
  if (Math.min(dx, dy) < 3) return;
  ctx.fillStyle = COLORS.proxy;
  const radius = Math.min(2.5, Math.min(dx, dy) / 4);
  for (let y = 0; y < rows; y += wh) {
    for (let x = 0; x < cols; x += ww) {
      for (let i = 0; i < ph; i++) {
        for (let j = 0; j < pw; j++) {
          ctx.beginPath();
          ctx.arc(x0 + x * cell + (j + 0.5) * dx, y0 + y * cell + (i + 0.5) * dy, radius, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
  }
}

const LINES = ["mode", "trained", "tokens", "windows", "proxies", "cost", "warning", "problems"];
const RED = "#ff6b6b";
const TEXT_ORDER = ["cost", "windows", "warning", "problems", "trained", "proxies", "tokens"]; // one line: key facts first

/** The read-out as { line name: [text, colour] } (an empty text hides the line) and the cost ratio. */
function readoutOf(s) {
  const out = Object.fromEntries(LINES.map((k) => [k, ["", ""]]));
  if (!s.grid) {
    const [w, h, f] = s.size;
    out.problems = [`Preview size ${w} × ${h} px, ${f} frames is not valid: width and height must be ` +
                    `multiples of ${M.VAE_SPATIAL * M.PATCH} px, frames 1 + ${M.VAE_TEMPORAL}k.`, RED];
    return { lines: out, r: null };
  }
  const [F, H, W] = s.grid;
  const modeText = { auto: "auto (the paper's table)", checkpoint: "checkpoint (trained ratio)" }[s.mode] ?? s.mode;
  out.mode = [`${modeText} · latent ${H * M.PATCH} × ${W * M.PATCH} × ${F} frame${F > 1 ? "s" : ""}, ` +
              `patch ${M.PATCH}`, ""];
  const t = s.trained;
  out.trained = t.unknown ? [`Trained ratio not known yet: ${t.unknown}`, s.mode === "checkpoint" ? "#ffb020" : ""]
    : [`Trained ratio: window ${triple(t.window)}, proxy ${triple(t.proxy)} · ${t.source}`, ""];
  const tokens = F * H * W;
  if (!s.effective) {
    out.tokens = [`Tokens ${F} × ${H} × ${W} = ${fmt(tokens)}`, ""];
    return { lines: out, r: null };
  }
  const r = M.readout(s.grid, s.effective);
  const padded = r.paddedTokens !== r.tokens ? ` → padded ${r.padded.join(" × ")} = ${fmt(r.paddedTokens)}` : "";
  out.tokens = [`Tokens ${F} × ${H} × ${W} = ${fmt(r.tokens)}${padded}`, ""];
  out.windows = [`Windows ${s.effective.window.join(" × ")} tokens → ${fmt(r.windowCount)} windows ` +
                 `(${r.windows.join(" × ")})`, ""];
  out.proxies = [`Proxy tokens ${fmt(r.proxyTokens)} (${r.proxiesPerWindow} per window)`, ""];
  out.cost = [`Attention ${M.percent(r.ratio)} % of full self-attention`, ""];
  if (s.reference && M.departsFromTraining(s.effective, s.reference)) {
    out.warning = [`⚠ Differs from the checkpoint's trained ratio: window ${triple(s.reference.window)}, ` +
                   `proxy ${triple(s.reference.proxy)}`, "#ffb020"];
  }
  out.problems = [s.problems.join("; "), RED];
  return { lines: out, r };
}

function setLine(line, [text, color]) {
  line.textContent = text;
  line.style.color = color;
  line.style.display = text ? "" : "none";
}

/** Re-render when anything the widget shows has changed (cheap enough to call on every draw). */
function refresh(node, force = false) {
  const view = views.get(node);
  if (!view) return;
  let s = stateOf(node);
  if (s.grid && s.effective && s.mode !== "manual") {
    // The hidden values follow what auto/checkpoint uses, so a later pick starts from there.
    [...s.effective.window, ...s.effective.proxy].forEach((r, i) => setValue(node, RATIOS[i], r));
    s = stateOf(node);
  }
  const zoom = zoomOf(view.canvas);
  const key = JSON.stringify([s.mode, s.manual, s.size, s.largest, s.trained, view.canvas?.clientWidth, zoom]);
  if (!force && key === view.key) return;
  view.key = key;
  const { lines, r } = readoutOf(s);
  if (view.text) {
    view.text.value = TEXT_ORDER.map((k) => lines[k][0]).filter(Boolean).join(" · ");
    node.setDirtyCanvas?.(true, false);
    return;
  }
  render(view, s, lines, r);
}

function render(view, s, lines, r) {
  const choices = s.grid && s.effective ? M.choices(s.grid, s.effective.window, s.largest) : null;
  const note = s.mode === "manual" ? "invalid" : "pads";
  RATIOS.forEach((name, i) => {
    const kind = i < 3 ? "window" : "proxy";
    const current = (s.effective ?? s.manual)[kind][i % 3];
    fillSelect(view.selects[name], choices ? choices[kind][i % 3] : [current], current, note);
    view.selects[name].disabled = !choices || name === "proxy_f";
  });
  view.root.dataset.mode = s.mode;
  view.root.dataset.ratio = r ? String(r.ratio) : "";
  view.root.dataset.trained = s.trained.unknown ? "" : JSON.stringify([s.trained.window, s.trained.proxy]);
  LINES.forEach((k) => setLine(view.lines[k], lines[k]));
  drawGrid(view.canvas, s, r);
}

function build(node) {
  const root = el("div", "display:flex;flex-direction:column;gap:4px;font-size:11px;line-height:1.35;" +
                  "color:var(--input-text,#ddd);overflow-y:auto;box-sizing:border-box;", { className: "ptdit-ratio" });
  const selects = {};
  const header = el("div", "display:flex;gap:4px;opacity:0.7;");
  header.append(el("span", "width:44px;"), ...AXIS_TITLES.map((t, i) =>
    el("span", "flex:1;min-width:0;", { textContent: t, title: `p_${"fhw"[i]}, in tokens` })));
  root.append(header);
  for (const kind of ["window", "proxy"]) {
    const row = el("div", "display:flex;align-items:center;gap:4px;");
    row.append(el("span", "width:44px;", { textContent: kind }));
    for (let axis = 0; axis < 3; axis++) {
      const name = RATIOS[(kind === "window" ? 0 : 3) + axis];
      const select = el("select", "flex:1;min-width:0;font-size:11px;background:var(--comfy-input-bg,#222);" +
                        "color:var(--input-text,#ddd);border:1px solid var(--border-color,#444);border-radius:4px;",
                        { title: `${kind} p_${"fhw"[axis]} (${AXIS_TITLES[axis]}, tokens)` });
      select.dataset.ratio = name;
      select.addEventListener("change", () => pick(node, kind, axis, Number(select.value)));
      selects[name] = select;
      row.append(select);
    }
    root.append(row);
  }
  const canvas = el("canvas", `width:100%;height:${CANVAS_HEIGHT}px;border-radius:4px;flex:none;`);
  root.append(canvas);
  const lines = {};
  for (const name of LINES) {
    lines[name] = el("div", name === "mode" ? "opacity:0.7;" : "");
    lines[name].dataset.readout = name;
    root.append(lines[name]);
  }
  views.set(node, { root, selects, canvas, lines, key: null });
  // The frontend sizes the element after creation and on node resize: redraw at the new size. The
  // Vue renderer neither draws the node on the canvas (onDraw) nor resizes it on zoom: look often.
  const observer = new ResizeObserver(() => refresh(node));
  observer.observe(canvas);
  const timer = setInterval(() => root.isConnected && refresh(node), 250);
  const removed = node.onRemoved;
  node.onRemoved = function () {
    observer.disconnect();
    clearInterval(timer);
    return removed?.apply(this, arguments);
  };
  return root;
}

/** Pickers, grid and read-out in one DOM widget; the six ratio INT widgets are hidden behind it. */
function addPicker(node) {
  for (const name of RATIOS) {
    const w = widgetOf(node, name);
    if (!w) continue;
    w.hidden = true; // still serialised; the pickers below write it
    if (w.options) w.options.hidden = true; // the Vue node renderer reads this one
    w.computeSize = () => [0, -4];
  }
  const widget = node.addDOMWidget("ptdit_ratio", "ptdit_ratio", build(node), {
    serialize: false,
    hideOnZoom: false,
    getMinHeight: () => HEIGHT,
    getMaxHeight: () => HEIGHT,
    onDraw: () => refresh(node),
  });
  widget.serialize = false;
}

/** Fallback without DOM widgets: the plain ratio inputs stay, a text widget shows the read-out. */
function addTextReadout(node) {
  const text = node.addWidget("text", "ptdit_readout", "", () => refresh(node, true), { serialize: false });
  text.serialize = false;
  views.set(node, { text, key: null });
}

/** Refresh after a widget edit or a (dis)connection too: some renderers never draw the node's canvas. */
function followChanges(node) {
  for (const w of node.widgets ?? []) {
    const callback = w.callback;
    w.callback = function () {
      const result = callback?.apply(this, arguments);
      refresh(node);
      return result;
    };
  }
  const connections = node.onConnectionsChange;
  node.onConnectionsChange = function () {
    const result = connections?.apply(this, arguments);
    refresh(this);
    return result;
  };
}

app.registerExtension({
  name: "ptditqihoot2x.ProxyRatio",  // under the pack's namespace, from its DisplayName
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE) return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = created?.apply(this, arguments);
      (typeof this.addDOMWidget === "function" ? addPicker : addTextReadout)(this);
      followChanges(this);
      this.setSize([Math.max(this.size[0], 300), this.computeSize()[1]]);
      refresh(this, true);
      return result;
    };
    const executed = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      const result = executed?.apply(this, arguments);
      const learned = output?.[UI_KEY]?.[0];
      const view = views.get(this);
      if (learned?.known && view) {
        view.learned = { model_name: learned.model_name, window: learned.window, proxy: learned.proxy };
        refresh(this, true);
      }
      return result;
    };
  },
});
