/**
 * PT-DiT ratio maths for the Proxy Ratio widget: token grid of a target size, the valid choices,
 * the ratios of the "auto" and "checkpoint" modes, and the read-out (tokens, windows, proxy tokens,
 * attention cost). Mirrors ptdit/config.py, ptdit/complexity.py and nodes/options.py;
 * tests/unit/test_ratio_math_js.py checks that both sides give the same numbers.
 * Pure functions, no DOM, no imports. A ratio is [frames, rows, columns] in tokens.
 */

export const VAE_SPATIAL = 8; // CausalVAE (ptdit/vae/config.py SPATIAL_FACTOR, TEMPORAL_FACTOR)
export const VAE_TEMPORAL = 4;
export const PATCH = 2; // PTDiTConfig.patch_size of the released checkpoint

/** Latent frames of a 1 + 4k frame clip, or null when `frames` is not of that form. */
export function latentFrames(frames) {
  if (!Number.isInteger(frames) || frames < 1 || (frames - 1) % VAE_TEMPORAL) return null;
  return 1 + (frames - 1) / VAE_TEMPORAL;
}

/** Token grid [F, H, W] of a target size (ptdit.complexity.latent_grid), or null if invalid. */
export function tokenGrid(width, height, frames) {
  const f = latentFrames(frames);
  const step = VAE_SPATIAL * PATCH;
  if (f === null || !Number.isInteger(width) || !Number.isInteger(height)) return null;
  if (width < step || height < step || width % step || height % step) return null;
  return [f, height / step, width / step];
}

/** Divisors of n up to `largest`, ascending. */
export function divisors(n, largest = n) {
  const out = [];
  for (let d = 1; d <= Math.min(n, largest); d++) if (n % d === 0) out.push(d);
  return out;
}

/** Python's round(): halves go to the even neighbour (64 x 32 tokens -> log2 side 2.5 -> 4). */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** The paper's table (WindowSettings.paper_default): one proxy per window, p_f = 4 for video. */
export function paperDefault([frames, rows, cols]) {
  const side = Math.max(1, Math.sqrt(rows * cols) / 8);
  const ratio = Math.min(2 ** roundHalfEven(Math.log2(side)), rows, cols);
  const window = [frames === 1 ? 1 : Math.min(4, frames), ratio, ratio];
  return { window, proxy: [...window] };
}

/**
 * "checkpoint" mode (WindowOptions.resolve): the trained ratios clamped to a small grid. `trained`
 * is the wired-in checkpoint's { window, proxy } (its ptdit_config; no default: never a guess).
 */
export function checkpointDefault(grid, trained) {
  const window = trained.window.map((c, i) => Math.min(c, grid[i]));
  const proxy = trained.proxy.map((p, i) => (window[i] % p === 0 ? p : window[i]));
  return { window, proxy };
}

/** What a mode uses for a grid; "manual" returns the given ratios; "checkpoint" null until `trained` is known. */
export function effectiveRatios(mode, grid, manual, trained = null) {
  if (mode === "auto") return paperDefault(grid);
  if (mode === "checkpoint") return trained ? checkpointDefault(grid, trained) : null;
  return { window: [...manual.window], proxy: [...manual.proxy] };
}

/** Valid manual choices per axis: windows tile the grid, proxies divide the window, p_f shared. */
export function choices(grid, window, largest) {
  return {
    window: grid.map((size) => divisors(size, largest)),
    proxy: [[window[0]], divisors(window[1], largest), divisors(window[2], largest)],
  };
}

const AXES = [["f", "latent frames"], ["h", "token rows"], ["w", "token columns"]];

/** Why manual ratios are invalid for a grid (empty when valid); same rules as the Python node. */
export function problems(grid, { window, proxy }, largest) {
  const out = [];
  const bad = (v) => !Number.isInteger(v) || v < 1 || v > largest;
  [...window.map((v, i) => [`window_${AXES[i][0]}`, v]), ...proxy.map((v, i) => [`proxy_${AXES[i][0]}`, v])]
    .filter(([, v]) => bad(v))
    .forEach(([name, v]) => out.push(`${name}=${v} is outside 1..${largest}`));
  if (out.length) return out;
  if (proxy[0] !== window[0]) out.push(`proxy_f=${proxy[0]} must equal window_f=${window[0]}`);
  for (const i of [1, 2]) {
    if (window[i] % proxy[i]) {
      out.push(`proxy_${AXES[i][0]}=${proxy[i]} must divide window_${AXES[i][0]}=${window[i]}; ` +
               `allowed: ${divisors(window[i], largest).join(", ")}`);
    }
  }
  window.forEach((side, i) => {
    if (grid[i] % side) {
      out.push(`window_${AXES[i][0]}=${side} does not divide the ${grid[i]} ${AXES[i][1]}; ` +
               `allowed: ${divisors(grid[i], largest).join(", ")}`);
    }
  });
  return out;
}

/**
 * Read-out for a grid and ratios (ptdit.complexity._geometry and attention_ratio): the grid is
 * padded to whole windows; `ratio` = (M² + N·M + 2·N·n) / N_real² with both local attentions on.
 */
export function readout(grid, { window, proxy }, { windowAttention = true, shiftWindow = true } = {}) {
  const padded = grid.map((g, i) => Math.ceil(g / window[i]) * window[i]);
  const tokens = grid[0] * grid[1] * grid[2];
  const paddedTokens = padded[0] * padded[1] * padded[2];
  const perWindow = window[0] * window[1] * window[2];
  const windows = padded.map((p, i) => p / window[i]);
  const windowCount = paddedTokens / perWindow;
  const proxiesPerWindow = (window[1] / proxy[1]) * (window[2] / proxy[2]);
  const proxyTokens = windowCount * proxiesPerWindow;
  const local = paddedTokens * perWindow * (Number(windowAttention) + Number(shiftWindow));
  const ratio = (proxyTokens ** 2 + paddedTokens * proxyTokens + local) / tokens ** 2;
  return { tokens, padded, paddedTokens, perWindow, windows, windowCount, proxiesPerWindow, proxyTokens, ratio };
}

/**
 * `100 * ratio` with `digits` decimals, rounded like Python's f"{100 * ratio:.2f}": exact binary
 * ties go to the even digit (toFixed alone gives 15.63 for 15.625, Python 15.62).
 */
export function percent(ratio, digits = 2) {
  const v = 100 * ratio;
  const exact = v.toFixed(100); // every digit of the double for the magnitudes shown here
  const cut = exact.indexOf(".") + 1 + digits;
  const tie = /^50*$/.test(exact.slice(cut));
  return tie && Number(exact[cut - 1]) % 2 === 0 ? exact.slice(0, cut) : v.toFixed(digits);
}

/** True when the ratios differ from `trained` ({ window, proxy }, e.g. checkpointDefault's). */
export function departsFromTraining({ window, proxy }, trained) {
  return window.some((v, i) => v !== trained.window[i]) || proxy.some((v, i) => v !== trained.proxy[i]);
}
