// explorer.js: the views of the gate explorer.
//
// Every number shown comes from runClassifier (lstm.js) on the embedded weights; this file keeps the
// state (digit, step t, layer, unit, clamps: all in the URL hash, so a link names one moment) and draws
// the panels. Read it top to bottom: constants, state and hash, the runs, colours, then one function
// per panel, the events, and window.explorer (a small API the tests and the curious use).
/* global sigmoid, runClassifier, loadNet, sequenceOf, float32s, bytesOf -- from lstm.js */
/* global parseClampText, clampText, clampHolds, conflictsOf -- from clamps.js, the script before this one */
"use strict";

// ---- constants -------------------------------------------------------------------------------------

const QUANTITIES = ["i", "f", "g", "o", "c", "h"];
const GATES = ["i", "f", "g", "o"];
const MODELS = ["trained", "fresh"];
const NAMES = { i: "input gate", f: "forget gate", g: "candidate", o: "output gate", c: "cell state",
  h: "hidden state" };
const DECIMALS = 4; // every value is shown to 4 decimals
const SORTS = ["unit", "saturation", "forgetting", "cend"];
const TOP = 8; // drivers listed for a clicked term

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, html = "") => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.innerHTML = html;
  return e;
};

/** A number as the page shows it: 4 decimals and a real minus sign (none on a value that rounds to 0). */
function fmt(v, decimals = DECIMALS) {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "∞" : "−∞";
  const s = Math.abs(v).toFixed(decimals);
  return (v < 0 && Number(s) !== 0 ? "−" : "") + s;
}

// ---- state, and the URL hash that holds it --------------------------------------------------------

let D; // the page's data (the JSON at the end of the page)
let M; // D.model: sizes, sequence form, normalisation
let nets; // {trained, fresh}: loadNet(...)
let T, H, K, C; // steps, units per layer, layers, classes
let digitPixels; // Uint8Array(784) per embedded digit
let drawn = null; // Uint8Array(784) of a drawn digit, or null

const state = { digit: 0, t: 0, layer: 0, unit: 0, heat: "trained", sort: "unit", clamps: [], term: null };

/** A clamp in the hash's first form (f0_1_17: f held at 0 in layer 1, unit 17; o1_all_all; f0_0_3+5) as the
 *  text clamps.js reads, so old links keep working; null if it is not of that form. */
function oldClampText(text) {
  const m = /^([a-z]+)([-+]?[0-9.]+(?:e[-+]?[0-9]+)?)_(all|\d+)_(all|[\d+]+)$/.exec(text);
  if (!m) return null;
  return `${m[1]}=${m[2]}${m[3] === "all" ? "" : `@${m[3]}`}` +
    (m[4] === "all" ? "" : `:${m[4].split("+").filter((u) => u !== "").join(",")}`);
}

/** The clamps a hash's clamps= names ("f=0@1:5/15;o=1", as eval --clamp writes each; or the first form,
 *  comma-separated), and what could not be used of it, with why. */
function clampsOfHash(value) {
  const clamps = [];
  const ignored = [];
  const texts = value.includes("=") ? value.split(";") : value.split(",").map((s) => oldClampText(s) ?? s);
  for (const text of texts.filter((s) => s !== "")) {
    const { clamp, error } = parseClampText(text, D.clamp_rules, K, H);
    if (clamp) clamps.push(clamp);
    else ignored.push(`the clamp “${text}”: ${error}`);
  }
  return { clamps, ignored };
}

function hashOf() {
  const parts = [["digit", state.digit], ["t", state.t], ["layer", state.layer], ["unit", state.unit]];
  if (state.clamps.length) parts.push(["clamps", state.clamps.map(clampText).join(";")]);
  if (state.heat !== "trained") parts.push(["overview", state.heat]);
  if (state.sort !== "unit") parts.push(["sort", state.sort]);
  if (state.digit === "drawn") parts.push(["drawn", packPixels(drawn)]);
  return "#" + parts.map(([k, v]) => `${k}=${v}`).join("&");
}

const HASH_KEYS = ["digit", "t", "layer", "unit", "clamps", "overview", "sort", "drawn"];

/** The state a hash names, and what of it could not be used (each with why, so the page can say it): a
 *  number out of range is brought into range, as the unit field does; anything else keeps its default. */
function stateOfHash(hash) {
  const ignored = [];
  const p = {};
  for (const part of hash.replace(/^#/, "").split("&").filter((s) => s !== "")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    let value = eq < 0 ? "" : part.slice(eq + 1);
    try {
      value = decodeURIComponent(value);
    } catch { // a stray % : keep the text as it came
    }
    if (HASH_KEYS.includes(key) && eq >= 0) p[key] = value;
    else ignored.push(`“${part}”: the page has no such setting (it reads ${HASH_KEYS.join(", ")})`);
  }
  const int = (key, lo, hi, dflt, what) => {
    const v = p[key];
    if (v === undefined) return dflt;
    if (!/^-?[0-9]+$/.test(v)) {
      ignored.push(`${key}=${v}: not a whole number, so ${what} ${dflt}`);
      return dflt;
    }
    const n = Math.max(lo, Math.min(hi, Number(v)));
    if (n !== Number(v)) ignored.push(`${key}=${v}: ${what}s run from ${lo} to ${hi}, so ${what} ${n}`);
    return n;
  };
  const next = { digit: 0, t: 0, layer: 0, unit: 0, heat: "trained", sort: "unit", clamps: [], term: null };
  const middle = Math.floor(T / 2); // with no hash, start half-way through the digit: both h_{t-1} and c_{t-1} at work
  let pixels = null;
  if (p.digit === "drawn") {
    pixels = p.drawn ? unpackPixels(p.drawn) : null;
    if (!pixels) {
      ignored.push(p.drawn ? "drawn=…: not a drawing this page wrote (784 pixels in 16 grey levels), so digit 0"
        : "digit=drawn without its drawing (drawn=…), so digit 0");
    }
  } else if (p.drawn !== undefined) {
    ignored.push("drawn=…: a drawing is shown only with digit=drawn");
  }
  next.digit = pixels ? "drawn" : p.digit === "drawn" ? 0 : int("digit", 0, D.digits.length - 1, 0, "digit");
  next.t = int("t", 0, T - 1, middle, "step");
  next.layer = int("layer", 0, K - 1, 0, "layer");
  next.unit = int("unit", 0, H - 1, 0, "unit");
  if (p.overview !== undefined && !MODELS.includes(p.overview)) ignored.push(`overview=${p.overview}: not trained or fresh`);
  if (MODELS.includes(p.overview)) next.heat = p.overview;
  if (p.sort !== undefined && !SORTS.includes(p.sort)) ignored.push(`sort=${p.sort}: not one of ${SORTS.join(", ")}`);
  if (SORTS.includes(p.sort)) next.sort = p.sort;
  const found = clampsOfHash(p.clamps || "");
  next.clamps = found.clamps;
  ignored.push(...found.ignored);
  return { next, pixels, ignored };
}

/** Say something the page did not do as asked (a link's parts it could not use), until dismissed. */
function notify(lines) {
  $("notice").hidden = lines.length === 0;
  $("notice-text").textContent = lines.length ? `Not all of this link could be used: ${lines.join("; ")}.` : "";
}

let hashTimer = null;
/** Write the state into the hash (at most every 150 ms while the slider moves), without a history entry. */
function saveHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => {
    try {
      history.replaceState(null, "", hashOf());
    } catch { // a page shown where history cannot be written (an iframe's srcdoc): no link, no harm
    }
  }, 150);
}

/** 784 pixels (0..255) in 4 bits each, base64url: 524 characters for a drawn digit in the hash. */
function packPixels(pixels) {
  const bytes = new Uint8Array(392);
  for (let k = 0; k < 392; k++) bytes[k] = ((pixels[2 * k] >> 4) << 4) | (pixels[2 * k + 1] >> 4);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unpackPixels(text) {
  try {
    const bytes = bytesOf(text.replace(/-/g, "+").replace(/_/g, "/"));
    if (bytes.length !== 392) return null;
    const pixels = new Uint8Array(784);
    for (let k = 0; k < 392; k++) {
      pixels[2 * k] = (bytes[k] >> 4) * 17;
      pixels[2 * k + 1] = (bytes[k] & 15) * 17;
    }
    return pixels;
  } catch {
    return null;
  }
}

// ---- the runs: both models on the current digit, with and without the clamps ----------------------

const baseCache = new Map(); // "model digit" -> the run without clamps (embedded digits only)
let runs; // {trained: {base, run}, fresh: {base, run}}: run is with the clamps (base when there are none)

const pixelsOf = (digit) => (digit === "drawn" ? drawn : digitPixels[digit]);

function baseRun(model, digit) {
  const key = `${model} ${digit}`;
  if (digit !== "drawn" && baseCache.has(key)) return baseCache.get(key);
  const run = runClassifier(nets[model], sequenceOf(pixelsOf(digit), M), []);
  if (digit !== "drawn") baseCache.set(key, run);
  return run;
}

function recompute() {
  runs = {};
  for (const m of MODELS) {
    const base = baseRun(m, state.digit);
    const run = state.clamps.length ? runClassifier(nets[m], sequenceOf(pixelsOf(state.digit), M), state.clamps) : base;
    runs[m] = { base, run };
  }
}

/** The value of quantity q (i, f, g, o, c, h) of model m, layer k, step t, unit j, as run (with the clamps). */
const valueAt = (m, q, k, t, j) => runs[m].run.layers[k][q][t * H + j];

/** The class the page calls true: the label of an embedded digit, the trained model's answer for a drawn one. */
function trueClass() {
  if (state.digit !== "drawn") return D.digits[state.digit].label;
  return argmax(runs.trained.base.probs, (T - 1) * C, C);
}

function argmax(values, at, n) {
  let best = 0;
  for (let k = 1; k < n; k++) if (values[at + k] > values[at + best]) best = k;
  return best;
}

/** The value a clamp holds gate q of unit j in layer k at step t (the last one that does wins), or null. */
function heldAt(q, k, j, t = state.t) {
  let value = null;
  for (const cl of state.clamps) if (cl.gate === q && clampHolds(cl, k, j, t)) value = cl.value;
  return value;
}

/** Per unit of layer k in model m: the share of steps where gate q is below / above the thresholds. */
function saturationShares(m, k, q) {
  const [low, high] = D.saturation;
  const v = runs[m].run.layers[k][q];
  const below = new Float64Array(H);
  const above = new Float64Array(H);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < H; j++) {
      const x = v[t * H + j];
      if (x < low) below[j] += 1 / T;
      if (x > high) above[j] += 1 / T;
    }
  }
  return { below, above };
}

/** The units of layer k in the overview's order (state.sort), largest first; ties by unit number. */
function unitOrder(m, k) {
  const units = [...Array(H).keys()];
  if (state.sort === "unit") return units;
  const L = runs[m].run.layers[k];
  const score = new Float64Array(H);
  if (state.sort === "saturation") {
    for (const q of ["i", "f", "o"]) {
      const { below, above } = saturationShares(m, k, q);
      for (let j = 0; j < H; j++) score[j] += (below[j] + above[j]) / 3;
    }
  } else if (state.sort === "forgetting") {
    for (let j = 0; j < H; j++) {
      let mean = 0;
      for (let t = 0; t < T; t++) mean += L.f[t * H + j] / T;
      score[j] = 1 / (1 - mean); // the forgetting time in steps: the cell keeps f^n of its content after n steps
    }
  } else if (state.sort === "cend") {
    for (let j = 0; j < H; j++) score[j] = Math.abs(L.c[(T - 1) * H + j]);
  }
  return units.sort((a, b) => score[b] - score[a] || a - b);
}

// ---- colours: viridis for the gates in [0, 1], BrBG for g, h (in [-1, 1]) and c ---------------------

const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
  "#fde725"];
const BRBG = ["#543005", "#8c510a", "#bf812d", "#dfc27d", "#f6e8c3", "#f5f5f5", "#c7eae5", "#80cdc1", "#35978f",
  "#01665e", "#003c30"];

function lookupTable(stops) {
  const rgb = stops.map((s) => [1, 3, 5].map((k) => parseInt(s.slice(k, k + 2), 16)));
  const lut = new Uint8ClampedArray(256 * 3);
  for (let n = 0; n < 256; n++) {
    const x = (n / 255) * (rgb.length - 1);
    const a = Math.min(Math.floor(x), rgb.length - 2);
    const w = x - a;
    for (let k = 0; k < 3; k++) lut[3 * n + k] = Math.round(rgb[a][k] * (1 - w) + rgb[a + 1][k] * w);
  }
  return lut;
}
const LUTS = { gate: lookupTable(VIRIDIS), diverging: lookupTable(BRBG) };

/** The scale of quantity q: gates [0, 1]; g and h [-1, 1]; c [-cmax, cmax]. */
function scaleOf(q, cmax) {
  if (q === "i" || q === "f" || q === "o") return { lut: LUTS.gate, lo: 0, hi: 1 };
  if (q === "c") return { lut: LUTS.diverging, lo: -cmax, hi: cmax };
  return { lut: LUTS.diverging, lo: -1, hi: 1 };
}

function colourAt(scale, v) {
  const n = Math.max(0, Math.min(255, Math.round(((v - scale.lo) / (scale.hi - scale.lo)) * 255)));
  return [scale.lut[3 * n], scale.lut[3 * n + 1], scale.lut[3 * n + 2]];
}

/** A rounded-up bound for |c|: at least 1, so a quiet cell is not painted as a loud one. */
function niceBound(values) {
  let max = 1;
  for (const v of values) if (Number.isFinite(v)) max = Math.max(max, Math.abs(v));
  const step = max <= 2 ? 0.25 : max <= 10 ? 1 : 5;
  return Math.ceil(max / step) * step;
}

/** niceBound of the 99th percentile of |values|: a few large cells do not wash out the rest (they take the
 *  end colours). */
function robustBound(values) {
  const sorted = Float64Array.from(values, Math.abs).sort();
  return niceBound([sorted[Math.floor(0.99 * (sorted.length - 1))]]);
}

/** The width inside an element's padding, in CSS pixels. */
function contentWidth(e) {
  const style = getComputedStyle(e);
  return e.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

/** A canvas's drawing context at the screen's pixel density, sized w x h in CSS pixels. */
function crisp(canvas, w, h) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

// ---- the header -------------------------------------------------------------------------------------

function drawHeader() {
  const what = { rows: `rows (${T} steps of ${M.input_size} pixels)`, pixels: `pixels (${T} steps of one pixel)`,
    permuted: `pixels in a fixed shuffled order (${T} steps of one pixel)` }[M.sequence];
  const on = M.trained_on ? ` on ${M.trained_on}` : "";
  const acc = M.test_acc === null ? "" : `, ${(100 * M.test_acc).toFixed(2)}% test accuracy`;
  const epochs = M.epoch ? ` after ${M.epoch} epoch${M.epoch === 1 ? "" : "s"}${on}` : on;
  const gpu = M.fresh_drawn_on_gpu ? " The run drew its start on a GPU; this is the same seed and init drawn on " +
    "the CPU (the same distribution, other numbers)." : "";
  $("model-line").innerHTML = `<span class="trained-text">Trained</span>: a ${K}-layer LSTM of ${H} units ` +
    `(${M.input_size} inputs), reading ${M.dataset} ${M.dataset === "fashion-mnist" ? "images" : "digits"} ` +
    `as ${what}: ${escapeHtml(M.checkpoint)}${epochs}${acc}. ` +
    `<span class="fresh-text">Fresh</span>: the same run before training (seed ${M.seed}, ` +
    `init ${escapeHtml(M.init)}).${gpu}`;
  $("made-line").textContent = `Made by ${D.made.by} on ${D.made.date}. No network: everything is in this file.`;
}

function escapeHtml(s) {
  const entity = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  return String(s).replace(/[&<>"']/g, (c) => entity[c]);
}

// ---- digits: the list, and the digit being read ----------------------------------------------------

/** The step at which each of the 784 pixels is read. */
let stepOfPixel;

function drawDigitList() {
  const list = $("digit-list");
  list.innerHTML = "";
  const entries = D.digits.map((d, n) => [n, d.label, `${d.source}, label ${d.label}`]);
  if (drawn) entries.push(["drawn", "✎", "your drawing"]);
  for (const [n, label, title] of entries) {
    const b = el("button", { type: "button", class: "thumb", role: "radio", title, "data-testid": `digit-${n}`,
      "aria-checked": String(state.digit === n), "aria-label": title, "data-digit": String(n),
      tabindex: state.digit === n ? "0" : "-1" }); // one tab stop for the group; the arrows move within it
    const cv = el("canvas", { width: 28, height: 28 });
    paintPixels(cv.getContext("2d"), pixelsOf(n), 1, null);
    b.append(cv, el("span", {}, String(label)));
    b.addEventListener("click", () => setDigit(n));
    list.append(b);
  }
}

/** Paint 784 pixels as dark ink on white, `scale` canvas pixels each; pixels read after step t (if given) faded. */
function paintPixels(ctx, pixels, scale, t) {
  const img = ctx.createImageData(28 * scale, 28 * scale);
  for (let p = 0; p < 784; p++) {
    const faded = t !== null && stepOfPixel[p] > t;
    const ink = pixels[p] * (faded ? 0.22 : 1);
    const v = Math.round(255 - ink);
    const [r0, c0] = [Math.floor(p / 28) * scale, (p % 28) * scale];
    for (let dr = 0; dr < scale; dr++) {
      for (let dc = 0; dc < scale; dc++) {
        const at = 4 * ((r0 + dr) * 28 * scale + c0 + dc);
        img.data[at] = v;
        img.data[at + 1] = v;
        img.data[at + 2] = faded ? 255 - ink * 0.9 : v; // faded rows: a faint blue-grey, read rows: black
        img.data[at + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

function drawDigit() {
  const ctx = $("digit").getContext("2d");
  const s = 8;
  paintPixels(ctx, pixelsOf(state.digit), s, state.t);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#cc79a7";
  const read = pixelsReadAt(state.t);
  if (M.sequence === "rows") ctx.strokeRect(1, state.t * s + 1, 28 * s - 2, s - 2);
  else for (const p of read) ctx.strokeRect((p % 28) * s + 1, Math.floor(p / 28) * s + 1, s - 2, s - 2);
  for (const d of highlightedPixels()) { // the strongest inputs of a clicked W x term
    ctx.strokeStyle = d.positive ? "#0072b2" : "#d55e00";
    ctx.strokeRect((d.pixel % 28) * s + 2.5, Math.floor(d.pixel / 28) * s + 2.5, s - 5, s - 5);
  }
  const d = D.digits[state.digit];
  $("digit-caption").textContent = state.digit === "drawn" ? "your drawing" : `${d.source}, label ${d.label}`;
}

/** The pixels read at step t. */
function pixelsReadAt(t) {
  if (M.sequence === "rows") return [...Array(28).keys()].map((c) => 28 * t + c);
  return [M.sequence === "permuted" ? M.permutation[t] : t];
}

function drawTimeLabel() {
  const where = M.sequence === "rows" ? `row ${state.t}` : (() => {
    const p = pixelsReadAt(state.t)[0];
    return `pixel (${Math.floor(p / 28)}, ${p % 28})`;
  })();
  $("t-label").textContent = `t = ${state.t} of 0…${T - 1}: reading ${where}`;
  $("slider").value = String(state.t);
}

// ---- the unit card: gauges at step t on fixed scales, strips over all steps -------------------------

function buildUnitCards() {
  for (const m of MODELS) {
    const col = $(`col-${m}`);
    col.innerHTML = `<h3>${m === "trained" ? "Trained" : "Fresh (before training)"}</h3>`;
    const g = el("div", { class: "gauges" });
    g.append(el("span", { class: "head" }, ""), el("span", { class: "head" }, "at step t, on its scale"),
      el("span", { class: "head" }, ""), el("span", { class: "head" }, "over all steps"));
    for (const q of QUANTITIES) {
      g.append(el("span", { class: "gname", id: `gname-${m}-${q}` }, q));
      const gauge = el("div", { class: "gauge", id: `gauge-${m}-${q}` },
        '<div class="zero"></div><div class="fill"></div>');
      g.append(gauge);
      g.append(el("span", { class: "gval", "data-testid": `value-${m}-${q}`, id: `value-${m}-${q}` }, ""));
      const strip = el("div", { class: "strip" });
      const cv = el("canvas", { width: T, height: 1, id: `strip-${m}-${q}`,
        "aria-label": `${NAMES[q]} over all steps` });
      cv.addEventListener("mousemove", (e) => stripTip(e, m, q));
      cv.addEventListener("mouseleave", hideTip);
      cv.addEventListener("click", (e) => { // a click or a tap: that step, and its value
        setT(stepUnder(e, cv));
        stripTip(e, m, q);
      });
      focusable(cv, `${NAMES[q]} of unit ${state.unit}, ${m}, over all steps`, () => {
        const text = `${m} ${q}, unit ${state.unit}, t = ${state.t}: ${fmt(valueAt(m, q, state.layer, state.t, state.unit))}`;
        return { text, x: ((state.t + 0.5) / T) * cv.clientWidth, y: cv.clientHeight };
      });
      strip.append(cv, el("div", { class: "mark", id: `mark-${m}-${q}` }));
      g.append(strip);
    }
    col.append(g, el("p", { class: "unit-note", id: `note-${m}`, "data-testid": `forgetting-${m}` }),
      el("div", { class: "eqs", id: `eqs-${m}` }));
  }
}

const stepUnder = (e, canvas) => Math.max(0, Math.min(T - 1, Math.floor((e.offsetX / canvas.clientWidth) * T)));

function stripTip(e, m, q) {
  const t = stepUnder(e, e.target);
  showTip(e, `${m} ${q}, unit ${state.unit}, t = ${t}: ${fmt(valueAt(m, q, state.layer, t, state.unit))}`);
}

/** The c bound of the selected unit, shared by both models so their gauges compare. */
function unitCBound() {
  const values = [];
  for (const m of MODELS) for (let t = 0; t < T; t++) values.push(valueAt(m, "c", state.layer, t, state.unit));
  return niceBound(values);
}

function drawStrips() {
  const cmax = unitCBound();
  for (const m of MODELS) {
    for (const q of QUANTITIES) {
      const cv = $(`strip-${m}-${q}`);
      const ctx = cv.getContext("2d");
      const img = ctx.createImageData(T, 1);
      const scale = scaleOf(q, cmax);
      for (let t = 0; t < T; t++) {
        const [r, g, b] = colourAt(scale, valueAt(m, q, state.layer, t, state.unit));
        img.data.set([r, g, b, 255], 4 * t);
      }
      ctx.putImageData(img, 0, 0);
      const range = q === "c" ? `±${cmax}` : q === "g" || q === "h" ? "−1…1" : "0…1";
      $(`gname-${m}-${q}`).innerHTML = `${q} <small>${range}</small>`;
      $(`gname-${m}-${q}`).title = `${NAMES[q]}, on the scale ${range}`;
    }
  }
}

/** The unit's forget gate in numbers: its bias, the memory that bias alone gives, and this digit's mean f. */
function drawForgetting() {
  const j = state.unit;
  for (const m of MODELS) {
    const layer = nets[m].layers[state.layer];
    const bf = layer.bias_ih[H + j] + layer.bias_hh[H + j]; // b_f = b_if + b_hf
    let mean = 0;
    for (let t = 0; t < T; t++) mean += valueAt(m, "f", state.layer, t, j) / T;
    const steps = (x) => (x < 1e6 ? x.toFixed(1) : "∞");
    $(`note-${m}`).innerHTML = `Forget bias b<sub>if</sub> + b<sub>hf</sub> = ${fmt(bf)}: alone, f = σ(b<sub>f</sub>) = ` +
      `${fmt(sigmoid(bf))}, a memory of 1/(1 − f) = ${steps(1 + Math.exp(bf))} steps. Over this digit, mean f = ` +
      `${fmt(mean)}: ${steps(1 / (1 - mean))} steps.`;
  }
}

function drawGauges() {
  const cmax = unitCBound();
  for (const m of MODELS) {
    for (const q of QUANTITIES) {
      const v = valueAt(m, q, state.layer, state.t, state.unit);
      const { lo, hi } = scaleOf(q, cmax);
      const pos = (x) => (100 * (Math.max(lo, Math.min(hi, x)) - lo)) / (hi - lo);
      const zero = pos(0);
      const gauge = $(`gauge-${m}-${q}`);
      gauge.firstChild.style.left = `${zero}%`;
      const fill = gauge.lastChild;
      fill.style.left = `${Math.min(zero, pos(v))}%`;
      fill.style.width = `${Math.abs(pos(v) - zero)}%`;
      const out = $(`value-${m}-${q}`);
      out.textContent = fmt(v);
      const held = q !== "c" && heldAt(q, state.layer, state.unit) !== null;
      out.classList.toggle("held", held);
      out.title = held ? "held by a clamp" : "";
      $(`mark-${m}-${q}`).style.left = `calc(${((state.t + 0.5) / T) * 100}% - 1px)`;
    }
  }
}

// ---- the equations, with every term's number ---------------------------------------------------------

const sub = (s) => `<sub>${s}</sub>`;
const ACT = { i: "σ", f: "σ", g: "tanh", o: "σ" };
const ACT_FN = { i: sigmoid, f: sigmoid, g: Math.tanh, o: sigmoid };

/** One term of an equation: its number over its symbol; a button where it can say what drove it. */
function term(sym, value, testid, opts = {}) {
  const cls = ["term", opts.result ? "result" : "", opts.held ? "held" : ""].join(" ").trim();
  const was = opts.was !== undefined ? `<span class="was" title="computed, then held">${fmt(opts.was)}</span>` : "";
  const inner = `<span class="sym">${sym}</span>${was}<span class="num" data-testid="${testid}">${fmt(value)}</span>`;
  if (!opts.key) return `<span class="${cls}">${inner}</span>`;
  const pressed = state.term && opts.key === termKey(state.term);
  return `<button type="button" class="${cls}" data-key="${opts.key}" aria-pressed="${pressed}" ` +
    `title="what drove this term most">${inner}</button>`;
}
const op = (s) => `<span class="op">${s}</span>`;
const termKey = (tm) => `${tm.model}-${tm.gate}-${tm.kind}`;

function drawEquations() {
  const k = state.layer;
  const j = state.unit;
  const t = state.t;
  for (const m of MODELS) {
    const L = runs[m].run.layers[k];
    const layer = nets[m].layers[k];
    const rows = [];
    GATES.forEach((q, n) => {
      const r = n * H + j;
      const at = t * 4 * H + r;
      const z = L.z[at];
      const used = L[q][t * H + j];
      const held = heldAt(q, k, j);
      const gateTerm = held === null
        ? term(`${q}${sub("t")} = ${ACT[q]}(z${sub(q)})`, used, `eq-${m}-${q}`, { result: true })
        : term(`${q}${sub("t")} held`, used, `eq-${m}-${q}`, { result: true, held: true, was: ACT_FN[q](z) });
      rows.push(`<div class="eq">${[
        `<span class="lhs">z${sub(q)} =</span>`,
        term(`W${sub("i" + q)}x${sub("t")}`, L.Wx[at], `eq-${m}-${q}-wx`, { key: `${m}-${q}-x` }), op("+"),
        term(`W${sub("h" + q)}h${sub("t−1")}`, L.Wh[at], `eq-${m}-${q}-wh`, { key: `${m}-${q}-h` }), op("+"),
        term(`b${sub("i" + q)}`, layer.bias_ih[r], `eq-${m}-${q}-bi`), op("+"),
        term(`b${sub("h" + q)}`, layer.bias_hh[r], `eq-${m}-${q}-bh`), op("="),
        term(`z${sub(q)}`, z, `eq-${m}-${q}-z`), op("→"), gateTerm,
      ].join("")}</div>`);
    });
    const v = (q, tt = t) => (tt < 0 ? 0 : L[q][tt * H + j]);
    const [f, i, g, o, c, cPrev] = [v("f"), v("i"), v("g"), v("o"), v("c"), v("c", t - 1)];
    rows.push('<div class="eq-sep"></div>');
    rows.push(`<div class="eq">${[
      `<span class="lhs">c${sub("t")} =</span>`,
      term(`f${sub("t")}`, f, `eq-${m}-c-f`), op("×"), term(`c${sub("t−1")}`, cPrev, `eq-${m}-c-cprev`), op("+"),
      term(`i${sub("t")}`, i, `eq-${m}-c-i`), op("×"), term(`g${sub("t")}`, g, `eq-${m}-c-g`),
    ].join("")}</div>`);
    rows.push(`<div class="eq">${[
      `<span class="lhs">=</span>`,
      term(`f${sub("t")}c${sub("t−1")}`, f * cPrev, `eq-${m}-c-fc`), op("+"),
      term(`i${sub("t")}g${sub("t")}`, i * g, `eq-${m}-c-ig`), op("="),
      term(`c${sub("t")}`, c, `eq-${m}-c`, { result: true }),
    ].join("")}</div>`);
    const hHeld = heldAt("h", k, j);
    const hTerm = hHeld === null ? term(`h${sub("t")}`, v("h"), `eq-${m}-h`, { result: true })
      : term(`h${sub("t")} held`, v("h"), `eq-${m}-h`, { result: true, held: true, was: o * Math.tanh(c) });
    rows.push(`<div class="eq">${[
      `<span class="lhs">h${sub("t")} =</span>`,
      term(`o${sub("t")}`, o, `eq-${m}-h-o`), op("×"), term(`tanh(c${sub("t")})`, Math.tanh(c), `eq-${m}-h-tanhc`),
      op("="), hTerm,
    ].join("")}</div>`);
    const box = $(`eqs-${m}`);
    const active = document.activeElement;
    const focused = active && box.contains(active) ? active.dataset.key : null; // keep a focused term focused
    box.innerHTML = rows.join("");
    if (focused) box.querySelector(`[data-key="${focused}"]`)?.focus();
  }
}

// ---- what drove a term: the largest products w x of W x_t or W h_{t-1} -----------------------------

/** The products behind the clicked term, largest |w x| first: {who, input, weight, product, pixel?, unit?}. */
function driversOf(tm) {
  const k = state.layer;
  const t = state.t;
  const q = GATES.indexOf(tm.gate);
  const r = q * H + state.unit;
  const layer = nets[tm.model].layers[k];
  const L = runs[tm.model].run.layers;
  const list = [];
  if (tm.kind === "x") {
    const I = layer.I;
    for (let n = 0; n < I; n++) {
      const w = layer.weight_ih[r * I + n];
      let input;
      let who;
      const d = {};
      if (k === 0) {
        const x = sequenceOf(pixelsOf(state.digit), M);
        input = x[t * I + n];
        d.pixel = M.sequence === "rows" ? 28 * t + n : pixelsReadAt(t)[0];
        who = `pixel (${Math.floor(d.pixel / 28)}, ${d.pixel % 28})`;
      } else {
        input = L[k - 1].h[t * H + n];
        d.unit = n;
        d.layer = k - 1;
        who = `unit ${n} of layer ${k - 1}`;
      }
      list.push({ ...d, who, input, weight: w, product: w * input });
    }
  } else {
    for (let n = 0; n < H; n++) {
      const w = layer.weight_hh[r * H + n];
      const input = t > 0 ? L[k].h[(t - 1) * H + n] : 0;
      list.push({ who: `unit ${n}`, unit: n, layer: k, input, weight: w, product: w * input });
    }
  }
  return list.sort((a, b) => Math.abs(b.product) - Math.abs(a.product));
}

function highlightedPixels() {
  if (!state.term || state.term.kind !== "x" || state.layer !== 0) return [];
  return driversOf(state.term).slice(0, TOP).filter((d) => d.product !== 0)
    .map((d) => ({ pixel: d.pixel, positive: d.product > 0 }));
}

function drawDrivers() {
  const box = $("drivers");
  if (!state.term) {
    box.hidden = true;
    return;
  }
  const tm = state.term;
  const all = driversOf(tm);
  const top = all.slice(0, TOP);
  const total = all.reduce((s, d) => s + d.product, 0);
  const topSum = top.reduce((s, d) => s + d.product, 0);
  const big = Math.max(1e-12, ...top.map((d) => Math.abs(d.product)));
  const sym = tm.kind === "x" ? `W<sub>i${tm.gate}</sub>x<sub>t</sub>` : `W<sub>h${tm.gate}</sub>h<sub>t−1</sub>`;
  const below = state.layer === 0 ? "x (normalised pixel)" : `h<sub>t</sub> of layer ${state.layer - 1}`;
  const inputName = tm.kind === "x" ? below : "h<sub>t−1</sub>";
  const rows = top.map((d) => {
    const w = Math.round((60 * Math.abs(d.product)) / big);
    const pick = d.unit === undefined ? ""
      : ` <button type="button" data-layer="${d.layer}" data-unit="${d.unit}">select</button>`;
    return `<tr><td class="who">${d.who}${pick}</td><td>${fmt(d.input)}</td><td>${fmt(d.weight)}</td>` +
      `<td>${fmt(d.product)}</td><td style="text-align:left"><span class="bar ${d.product >= 0 ? "pos" : "neg"}" ` +
      `style="width:${w}px"></span></td></tr>`;
  }).join("");
  const nothing = tm.kind === "h" && state.t === 0 ? "<p>At t = 0, h<sub>−1</sub> = 0: this term is 0.</p>" : "";
  const outlined = tm.kind === "x" && state.layer === 0 ? " The digit outlines them: blue pushes up, orange down." : "";
  box.innerHTML =
    `<h2>What drove ${sym} = ${fmt(total)} ` +
    `(${tm.model}, layer ${state.layer}, unit ${state.unit}, t = ${state.t})</h2>` +
    `<p class="caption">The ${top.length} largest of its ${all.length} products w · input. Together they give ` +
    `${fmt(topSum)}; the other ${all.length - top.length} give ${fmt(total - topSum)}.${outlined}</p>${nothing}` +
    `<table><tr><th style="text-align:left">input</th><th>${inputName}</th><th>weight w</th><th>w · input</th>` +
    `<th></th></tr>${rows}</table><p><button type="button" id="drivers-close">close</button></p>`;
  box.hidden = false;
  box.querySelectorAll("button[data-unit]").forEach((b) => b.addEventListener("click", () => {
    state.term = null;
    setUnit(Number(b.dataset.layer), Number(b.dataset.unit));
  }));
  $("drivers-close").addEventListener("click", () => {
    state.term = null;
    drawStep();
  });
}

// ---- the overview: heatmaps over time x units ---------------------------------------------------------

let order = []; // the overview's unit order (rank -> unit)
let rankOf = []; // unit -> rank

function heatSize() {
  const w = T <= 64 ? T * 8 : 392;
  const h = H <= 128 ? H * Math.max(1, Math.floor(256 / H)) : 256;
  return [w, h];
}

function drawOverview() {
  const m = state.heat;
  const k = state.layer;
  order = unitOrder(m, k);
  rankOf = new Array(H);
  order.forEach((u, rank) => { rankOf[u] = rank; });
  const [w, h] = heatSize();
  const box = $("heatmaps");
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  box.innerHTML = "";
  const L = runs[m].run.layers[k];
  const cmax = robustBound(L.c);
  for (const q of QUANTITIES) {
    const scale = scaleOf(q, cmax);
    const wrap = el("div", { class: "hm" });
    wrap.append(el("div", { class: "title" }, `<b>${q}</b> ${NAMES[q]} <span class="quiet">(${m}, layer ${k})</span>`));
    const frame = el("div", { class: "box" });
    const cv = el("canvas", { class: "map", width: T, height: H, "data-testid": `heatmap-${q}`,
      "aria-label": `${NAMES[q]} of every unit over time` });
    cv.style.width = `${w}px`;
    cv.style.height = `${h}px`;
    cv.style.imageRendering = T <= w && H <= h ? "pixelated" : "auto";
    const ctx = cv.getContext("2d");
    const img = ctx.createImageData(T, H);
    const v = L[q];
    for (let rank = 0; rank < H; rank++) {
      const j = order[rank];
      for (let t = 0; t < T; t++) {
        const [r, g, b] = colourAt(scale, v[t * H + j]);
        img.data.set([r, g, b, 255], 4 * (rank * T + t));
      }
    }
    ctx.putImageData(img, 0, 0);
    cv.addEventListener("mousemove", (e) => {
      const [t, j] = cellUnder(e, cv);
      showTip(e, `${q}, unit ${j}, t = ${t}: ${fmt(v[t * H + j])}`);
    });
    cv.addEventListener("mouseleave", hideTip);
    cv.addEventListener("click", (e) => { // a click or a tap: that unit and step, and its value
      const [t, j] = cellUnder(e, cv);
      state.t = t;
      setUnit(k, j);
      showTip(e, `${q}, unit ${j}, t = ${t}: ${fmt(valueAt(m, q, k, t, j))}`);
    });
    focusable(cv, `${NAMES[q]} of every unit of layer ${k} over time (${m})`, () => {
      const [w, h] = heatSize();
      const text = `${q}, unit ${state.unit}, t = ${state.t}: ${fmt(valueAt(m, q, k, state.t, state.unit))}`;
      return { text, x: ((state.t + 0.5) / T) * w, y: ((rankOf[state.unit] + 1) / H) * h };
    });
    frame.append(cv, el("div", { class: "tmark" }), el("div", { class: "umark l" }), el("div", { class: "umark r" }));
    wrap.append(frame, legend(scale, w));
    box.append(wrap);
  }
  if (focused) box.querySelector(`[data-testid="${focused}"]`).focus(); // a redraw keeps the keyboard's place
  moveOverviewMarks();
}

function cellUnder(e, cv) {
  const t = Math.max(0, Math.min(T - 1, Math.floor((e.offsetX / cv.clientWidth) * T)));
  const rank = Math.max(0, Math.min(H - 1, Math.floor((e.offsetY / cv.clientHeight) * H)));
  return [t, order[rank]];
}

function legend(scale, width) {
  const box = el("div", { class: "legend" });
  const cv = el("canvas", { width: 110, height: 1 });
  cv.style.width = `${Math.min(110, width - 70)}px`;
  const ctx = cv.getContext("2d");
  const img = ctx.createImageData(110, 1);
  for (let x = 0; x < 110; x++) {
    const [r, g, b] = colourAt(scale, scale.lo + ((scale.hi - scale.lo) * x) / 109);
    img.data.set([r, g, b, 255], 4 * x);
  }
  ctx.putImageData(img, 0, 0);
  const mid = (scale.lo + scale.hi) / 2;
  const beyond = scale.lo < -1 ? ", beyond: the end colours" : "";
  box.append(el("span", {}, fmt(scale.lo, scale.lo < -1 ? 2 : 1)), cv,
    el("span", {}, `${fmt(scale.hi, scale.hi > 1 ? 2 : 1)} (mid ${fmt(mid, 1)}${beyond})`));
  return box;
}

function moveOverviewMarks() {
  const [w, h] = heatSize();
  const rank = rankOf[state.unit];
  for (const frame of $("heatmaps").querySelectorAll(".box")) {
    const tm = frame.querySelector(".tmark");
    tm.style.left = `${(state.t / T) * w - 1}px`;
    tm.style.width = `${Math.max(3, w / T + 2)}px`;
    for (const u of frame.querySelectorAll(".umark")) u.style.top = `${((rank + 0.5) / H) * h - 1}px`;
  }
}

// ---- the answer forming: the softmax probe at every step ----------------------------------------------

function drawAnswer() {
  const t = state.t;
  const truth = trueClass();
  const label = state.digit === "drawn" ? "read" : "true";
  const at = t * C;
  const rows = ['<span></span><span class="hd trained-text">trained</span><span></span>' +
    '<span class="hd fresh-text">fresh</span><span></span>'];
  for (let k = 0; k < C; k++) {
    const [pt, pf] = [runs.trained.run.probs[at + k], runs.fresh.run.probs[at + k]];
    rows.push(`<span class="${k === truth ? "true" : ""}">${k}</span>` +
      `<span class="bar tr"><i style="width:${100 * pt}%"></i></span>` +
      `<span class="num" data-testid="prob-trained-${k}">${fmt(pt, 3)}</span>` +
      `<span class="bar fr"><i style="width:${100 * pf}%"></i></span>` +
      `<span class="num" data-testid="prob-fresh-${k}">${fmt(pf, 3)}</span>`);
  }
  $("probs").innerHTML = rows.join("");
  const last = (T - 1) * C;
  const says = (m, which) => {
    const p = runs[m][which].probs;
    const k = argmax(p, last, C);
    return `${k} (p ${fmt(p[last + k], 3)})`;
  };
  let text = `At the last step the <span class="trained-text">trained</span> model reads ${says("trained", "run")}, ` +
    `the <span class="fresh-text">fresh</span> one ${says("fresh", "run")}` +
    (state.digit === "drawn" ? `. It has no “not a digit” answer: whatever it is shown, it names one of 0…${C - 1}.`
      : `; the label is ${truth}.`);
  if (state.clamps.length) {
    text += ` <span class="held">With the clamps held.</span> Without them: trained ${says("trained", "base")}, ` +
      `fresh ${says("fresh", "base")}.`;
  }
  $("prediction").innerHTML = text;
  drawPTrue(truth, label);
}

function drawPTrue(truth, label) {
  const cv = $("ptrue");
  const W = contentWidth(cv.parentElement) || 270;
  const Hc = 120;
  const ctx = crisp(cv, W, Hc);
  const pad = { l: 30, r: 8, t: 16, b: 18 };
  const x = (t) => pad.l + ((W - pad.l - pad.r) * t) / Math.max(1, T - 1);
  const y = (p) => pad.t + (Hc - pad.t - pad.b) * (1 - p);
  ctx.clearRect(0, 0, W, Hc);
  axes(ctx, pad, W, Hc, ["1", "0"], `p(${label} class ${truth}) after step t`);
  const line = (probs, colour, dash, width) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
    ctx.beginPath();
    for (let t = 0; t < T; t++) {
      const p = probs[t * C + truth];
      if (t === 0) ctx.moveTo(x(t), y(p));
      else ctx.lineTo(x(t), y(p));
    }
    ctx.stroke();
    ctx.setLineDash([]);
  };
  if (state.clamps.length) {
    line(runs.trained.base.probs, "#9aa3ad", [], 1);
    line(runs.fresh.base.probs, "#9aa3ad", [5, 3], 1);
  }
  line(runs.fresh.run.probs, "#d55e00", [5, 3], 2);
  line(runs.trained.run.probs, "#0072b2", [], 2);
  stepMark(ctx, x(state.t), pad, Hc);
}

/** Axes of a small chart: a frame, two y labels (top, bottom) and a title in the top margin. */
function axes(ctx, pad, W, Hc, yLabels, title) {
  ctx.strokeStyle = "#d9dde3";
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, Hc - pad.t - pad.b);
  ctx.fillStyle = "#5b6470";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.fillText(yLabels[0], pad.l - 4, pad.t + 8);
  ctx.fillText(yLabels[1], pad.l - 4, Hc - pad.b);
  ctx.textAlign = "left";
  ctx.fillText(title, pad.l, pad.t - 5);
  ctx.fillText("t", W - pad.r - 8, Hc - 4);
  ctx.fillText("0", pad.l, Hc - 4);
  ctx.textAlign = "right";
  ctx.fillText(String(T - 1), W - pad.r - 12, Hc - 4);
  ctx.textAlign = "left";
}

function stepMark(ctx, x, pad, Hc) {
  ctx.strokeStyle = "#1f2328";
  ctx.lineWidth = 1;
  ctx.setLineDash([2, 2]);
  ctx.beginPath();
  ctx.moveTo(x, pad.t);
  ctx.lineTo(x, Hc - pad.b);
  ctx.stroke();
  ctx.setLineDash([]);
}

// ---- saturation: Karpathy et al.'s scatter, live -------------------------------------------------------

let satDots = []; // per canvas: [{x, y, unit}] in CSS pixels, for hover and click

/** What a saturation plot says about unit j's gate q, trained and fresh. */
function satText(q, j) {
  const share = (m) => {
    const { below, above } = saturationShares(m, state.layer, q);
    return `< ${D.saturation[0]} at ${fmt(100 * below[j], 0)}% of steps, > ${D.saturation[1]} at ${fmt(100 * above[j], 0)}%`;
  };
  return `${q}, unit ${j}: trained ${share("trained")}; fresh ${share("fresh")}`;
}

function drawSaturation() {
  const box = $("saturation");
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  box.innerHTML = "";
  satDots = [];
  const size = 124;
  const pad = 22;
  for (const q of ["i", "f", "o"]) {
    const wrap = el("div", {});
    const cv = el("canvas", { "data-testid": `saturation-${q}`, "aria-label": `saturation of ${NAMES[q]}` });
    const ctx = crisp(cv, size + pad, size + pad);
    ctx.strokeStyle = "#d9dde3";
    ctx.strokeRect(pad, 0.5, size - 0.5, size);
    ctx.beginPath(); // x + y = 1: no unit can lie beyond it
    ctx.moveTo(pad, 0.5);
    ctx.lineTo(pad + size, size);
    ctx.stroke();
    ctx.fillStyle = "#5b6470";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(`${q}`, pad + size - 14, 14);
    ctx.fillText("0", pad - 10, size);
    ctx.fillText("1", pad - 10, 10);
    ctx.fillText(`share < ${D.saturation[0]} →`, pad + 4, size + 15);
    ctx.save();
    ctx.translate(11, size - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(`share > ${D.saturation[1]} →`, 0, 0);
    ctx.restore();
    const dots = [];
    for (const m of ["fresh", "trained"]) {
      const { below, above } = saturationShares(m, state.layer, q);
      for (let j = 0; j < H; j++) {
        const [x, y] = [pad + below[j] * (size - 4) + 2, size - above[j] * (size - 4) - 2];
        dots.push({ x, y, unit: j, model: m, below: below[j], above: above[j] });
        ctx.beginPath();
        ctx.arc(x, y, 2.6, 0, 2 * Math.PI);
        if (m === "trained") {
          ctx.fillStyle = "rgba(0, 114, 178, 0.55)";
          ctx.fill();
        } else {
          ctx.strokeStyle = "rgba(213, 94, 0, 0.7)";
          ctx.lineWidth = 1;
          ctx.stroke();
        }
      }
    }
    for (const d of dots.filter((d) => d.unit === state.unit)) { // the selected unit: ringed
      ctx.beginPath();
      ctx.arc(d.x, d.y, 5.5, 0, 2 * Math.PI);
      ctx.strokeStyle = "#1f2328";
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
    satDots.push(dots);
    const nearest = (e) => {
      let best = null;
      let dist = 49;
      for (const d of dots) {
        const dd = (d.x - e.offsetX) ** 2 + (d.y - e.offsetY) ** 2;
        if (dd < dist) [best, dist] = [d, dd];
      }
      return best;
    };
    cv.addEventListener("mousemove", (e) => {
      const d = nearest(e);
      if (!d) return hideTip();
      showTip(e, `${q}, unit ${d.unit} (${d.model}): < ${D.saturation[0]} at ${fmt(100 * d.below, 0)}% of steps, ` +
        `> ${D.saturation[1]} at ${fmt(100 * d.above, 0)}%`);
    });
    cv.addEventListener("mouseleave", hideTip);
    cv.addEventListener("click", (e) => { // a click or a tap: that unit, and its shares
      const d = nearest(e);
      if (!d) return;
      setUnit(state.layer, d.unit);
      showTip(e, satText(q, d.unit));
    });
    focusable(cv, `saturation of ${NAMES[q]}: one dot per unit of layer ${state.layer}`, () => {
      const d = dots.find((dot) => dot.unit === state.unit && dot.model === "trained");
      return { text: satText(q, state.unit), x: d.x, y: d.y + 8 };
    });
    wrap.append(cv);
    box.append(wrap);
  }
  const mean = (m, q) => {
    const { below, above } = saturationShares(m, state.layer, q);
    let s = 0;
    for (let j = 0; j < H; j++) s += (below[j] + above[j]) / H;
    return `${fmt(100 * s, 0)}%`;
  };
  if (focused) box.querySelector(`[data-testid="${focused}"]`).focus(); // a redraw keeps the keyboard's place
  box.append(el("p", { class: "sat-legend", "data-testid": "saturation-summary" },
    `<span class="trained-text">● trained</span> <span class="fresh-text">○ fresh</span>, layer ${state.layer}, ` +
    `over this digit's ${T} steps. Saturated share, trained (fresh): ` +
    ["i", "f", "o"].map((q) => `${q} ${mean("trained", q)} (${mean("fresh", q)})`).join(", ") + "."));
}

// ---- the gradient through time --------------------------------------------------------------------------

let gradients = null; // per embedded digit and model: {dc, forget}: Float32Array(K*T) of log10 values

function drawGradient() {
  const cv = $("gradient");
  const W = Math.max(200, contentWidth(cv.parentElement));
  const Hc = 200;
  const ctx = crisp(cv, W, Hc);
  ctx.clearRect(0, 0, W, Hc);
  const note = $("gradient-note");
  if (state.digit === "drawn") {
    note.textContent = "Measured in Python for the embedded digits when the page was made; not for a drawing.";
    ctx.fillStyle = "#5b6470";
    ctx.font = "13px system-ui, sans-serif";
    ctx.fillText("no gradient for a drawn digit", 40, Hc / 2);
    return;
  }
  const k = state.layer;
  const series = [];
  for (const m of MODELS) {
    const g = gradients[state.digit][m];
    const dc = g.dc.subarray(k * T, (k + 1) * T);
    const last = dc[T - 1];
    series.push({ m, kind: "dc", v: Array.from(dc, (v) => v - last) }); // log10 of ‖dL/dc_t‖ / ‖dL/dc_{T-1}‖
    series.push({ m, kind: "forget", v: Array.from(g.forget.subarray(k * T, (k + 1) * T)) });
  }
  const finite = series.flatMap((s) => s.v.filter(Number.isFinite));
  let lo = Math.floor(Math.min(...finite, -1));
  const hi = Math.ceil(Math.max(...finite, 0));
  lo = Math.max(lo, hi - 320); // the chart's floor; anything below is drawn on it (float64 ends near 1e-308)
  const pad = { l: 50, r: 10, t: 18, b: 18 };
  const x = (t) => pad.l + ((W - pad.l - pad.r) * t) / Math.max(1, T - 1);
  const y = (v) => pad.t + ((Hc - pad.t - pad.b) * (hi - Math.max(lo, v))) / Math.max(1e-9, hi - lo);
  axes(ctx, pad, W, Hc, ["", ""], `layer ${k}, log scale`);
  const every = Math.max(1, Math.ceil((hi - lo) / 6)); // a tick every `every` decades: at most about 7
  const ticks = [];
  for (let d = hi; d >= lo; d -= every) {
    ticks.push(plain(d));
    ctx.fillStyle = "#5b6470";
    ctx.textAlign = "right";
    ctx.fillText(plain(d), pad.l - 4, y(d) + 4);
    ctx.strokeStyle = "#eef0f2";
    ctx.beginPath();
    ctx.moveTo(pad.l, y(d));
    ctx.lineTo(W - pad.r, y(d));
    ctx.stroke();
  }
  ctx.textAlign = "left";
  cv.dataset.ticks = ticks.join(" ");
  for (const s of series) {
    ctx.strokeStyle = s.m === "trained" ? "#0072b2" : "#d55e00";
    ctx.lineWidth = s.kind === "dc" ? 2 : 1.5;
    ctx.setLineDash(s.kind === "dc" ? (s.m === "trained" ? [] : [6, 3]) : [1.5, 2.5]);
    ctx.beginPath();
    s.v.forEach((v, t) => (t === 0 ? ctx.moveTo(x(t), y(v)) : ctx.lineTo(x(t), y(v))));
    ctx.stroke();
  }
  ctx.setLineDash([]);
  stepMark(ctx, x(state.t), pad, Hc);
  const g = gradients[state.digit];
  const at = (m, kind) => plain(g[m][kind][k * T + state.t] - (kind === "dc" ? g[m].dc[k * T + T - 1] : 0));
  note.innerHTML = `At t = ${state.t}: ‖dL/dc<sub>t</sub>‖ is ${at("trained", "dc")} of the last step's in the ` +
    `trained model, ${at("fresh", "dc")} in the fresh one; the forget-gate product is ${at("trained", "forget")} ` +
    `and ${at("fresh", "forget")}.`;
}

/** 10^v as a plain number: 1, 0.32, 0.0020, then 2.0e-8 or 1e-8 (v a log10; -∞: below float64). */
function plain(v) {
  if (!Number.isFinite(v)) return "0 (below float64)";
  const x = 10 ** v;
  if (Math.abs(v - Math.round(v)) < 1e-9) return v >= -3 && v <= 3 ? String(Math.round(x * 1000) / 1000) : `1e${Math.round(v)}`;
  return v >= -3 ? x.toPrecision(2) : x.toExponential(1);
}

// ---- clamps --------------------------------------------------------------------------------------------

function drawClamps() {
  const list = $("clamp-list");
  list.innerHTML = "";
  const conflicts = conflictsOf(state.clamps);
  state.clamps.forEach((cl, n) => {
    const where = `${cl.layer === null ? "every layer" : `layer ${cl.layer}`}, ${cl.units === null ? "every unit"
      : `unit${cl.units.length > 1 ? "s" : ""} ${cl.units.join(", ")}`}`;
    const when = cl.steps ? (cl.steps[0] === cl.steps[1] ? `step ${cl.steps[0]}` : `steps ${cl.steps[0]}…${cl.steps[1]}`)
      : "every step";
    const what = cl.gate === "h" ? `h held at ${cl.value} (the unit's output)` : `${cl.gate} held at ${cl.value}`;
    const lost = conflicts.find((c) => c.n === n);
    const won = conflicts.filter((c) => c.over.includes(n)).map((c) => c.n + 1);
    const notes = [];
    if (lost) notes.push(`overridden by ${lost.over.map((m) => m + 1).join(", ")} where they overlap`);
    if (won.length) notes.push(`wins over ${won.join(", ")} where they overlap: the later clamp wins`);
    const li = el("li", { "data-testid": `clamp-${n}` }, `<span>${n + 1}. ${what} · ${where} · ${when} ` +
      `<code>${clampText(cl)}</code>${notes.length ? `<br><span class="wins">${notes.join("; ")}</span>` : ""}</span>`);
    const x = el("button", { type: "button", "aria-label": `remove: ${what}, ${where}, ${when}` }, "×");
    x.addEventListener("click", () => setClamps(state.clamps.filter((_, k) => k !== n)));
    li.append(x);
    list.append(li);
  });
  if (!state.clamps.length) list.append(el("li", { class: "none" }, "no gate is held"));
}

/** Add a clamp from its text (the form's, or typed as eval --clamp takes it); say why if it cannot be. */
function addClampText(text) {
  const { clamp, error } = parseClampText(text.trim(), D.clamp_rules, K, H);
  $("clamp-note").textContent = error ? `Not held: ${error}.` : "";
  if (!clamp) return false;
  setClamps([...state.clamps.filter((c) => clampText(c) !== clampText(clamp)), clamp]);
  return true;
}

function addClampFromForm() {
  const gate = $("clamp-gate").value;
  const scope = $("clamp-scope").value;
  const when = $("clamp-when").value;
  const text = `${gate}=${$("clamp-value").value}${scope === "all" ? "" : `@${state.layer}`}` +
    `${scope === "unit" ? `:${state.unit}` : ""}${when === "all" ? "" : when === "t" ? `/${state.t}` : `/${state.t}-${T - 1}`}`;
  addClampText(text);
}

// ---- the tooltip -----------------------------------------------------------------------------------------

function showTip(e, text) {
  tipAt(e.clientX, e.clientY, text);
}

/** The tip beside the point (x, y) of the window, kept inside it. */
function tipAt(x, y, text) {
  const tip = $("tip");
  tip.textContent = text;
  tip.hidden = false;
  tip.style.left = `${Math.max(4, Math.min(x + 14, window.innerWidth - tip.offsetWidth - 8))}px`;
  tip.style.top = `${Math.min(y + 16, window.innerHeight - tip.offsetHeight - 4)}px`;
}

const tipOf = new WeakMap(); // a focusable canvas -> () => {text, x, y}: what it shows at (t, unit), where

/** Make a canvas a tab stop whose value at the selected step and unit shows while it has focus (the keys
 *  ← → ↑ ↓ move t and the unit, and the tip follows). */
function focusable(cv, label, where) {
  cv.tabIndex = 0;
  cv.setAttribute("role", "img");
  cv.setAttribute("aria-label", label);
  tipOf.set(cv, where);
  cv.addEventListener("focus", () => canvasTip(cv));
  cv.addEventListener("blur", hideTip);
}

function canvasTip(cv) {
  const where = tipOf.get(cv);
  if (!where) return;
  const { text, x, y } = where();
  const r = cv.getBoundingClientRect();
  tipAt(r.left + x - 14, r.top + y - 12, text);
}

function hideTip() {
  $("tip").hidden = true;
}

// ---- changes of state: each redraws what depends on it ----------------------------------------------------

/** Everything that depends on t (and on the unit): the slider's redraw. */
function drawStep() {
  drawDigit();
  drawTimeLabel();
  drawGauges();
  drawEquations();
  drawDrivers();
  moveOverviewMarks();
  drawAnswer();
  drawGradient();
  saveHash();
}

function drawUnit() {
  $("layer").value = String(state.layer);
  $("unit").value = String(state.unit);
  $("unit-caption").textContent = `of 0…${H - 1} in layer ${state.layer}`;
  drawStrips();
  drawForgetting();
  drawSaturation();
  drawStep();
}

function drawAll() {
  drawDigitList();
  drawClamps();
  drawOverview();
  drawUnit();
  for (const m of MODELS) {
    $(`heat-${m}`).setAttribute("aria-pressed", String(state.heat === m));
  }
  $("sort").value = state.sort;
}

function setT(t) {
  const next = Math.max(0, Math.min(T - 1, t));
  if (next === state.t) return;
  state.t = next;
  drawStep();
}

function setUnit(layer, unit) {
  const layerChanged = layer !== state.layer;
  state.layer = Math.max(0, Math.min(K - 1, layer));
  state.unit = Math.max(0, Math.min(H - 1, unit));
  if (layerChanged) drawOverview();
  else moveOverviewMarks();
  drawUnit();
}

function setDigit(digit) {
  state.digit = digit;
  state.term = null;
  recompute();
  drawAll();
}

function setClamps(clamps) {
  state.clamps = clamps;
  recompute();
  drawAll();
}

let player = null;
function play(on) {
  clearInterval(player);
  player = null;
  if (on) {
    if (state.t >= T - 1) setT(0);
    player = setInterval(() => {
      if (state.t >= T - 1) play(false);
      else setT(state.t + Math.max(1, Math.round(T / 200)));
    }, Math.max(30, Math.min(350, 9000 / T)));
  }
  $("play").textContent = on ? "❚❚" : "▶";
  $("play").setAttribute("aria-label", on ? "pause" : "play");
}

// ---- drawing a digit ---------------------------------------------------------------------------------------

/** The drawing as MNIST prepares its digits: the ink's bounding box scaled into 20 x 20 pixels, placed in
 *  28 x 28 with its centre of mass in the middle, as far as the box stays inside (so a top-heavy T keeps
 *  every row). Returns {pixels} (784 of them), or {error} for an empty canvas or a mark too small to be a digit. */
function mnistPixels(canvas) {
  const { width: W, height: Hc } = canvas;
  const ink = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, W, Hc).data;
  let [x0, y0, x1, y1] = [W, Hc, -1, -1];
  for (let y = 0; y < Hc; y++) {
    for (let x = 0; x < W; x++) {
      if (ink[4 * (y * W + x)] <= 20) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  if (x1 < 0) return { error: "Nothing is drawn yet: draw a digit in the square, then read it." };
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  if (side < W / 8) {
    return { error: `That mark is ${side} pixels across, too small to be read as a digit (it would be blown up ` +
      `to fill the frame): draw the digit across most of the square.` };
  }
  const s = 20 / side;
  const small = document.createElement("canvas");
  small.width = 28;
  small.height = 28;
  const ctx = small.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  const [w, h] = [(x1 - x0 + 1) * s, (y1 - y0 + 1) * s];
  ctx.drawImage(canvas, x0, y0, x1 - x0 + 1, y1 - y0 + 1, (28 - w) / 2, (28 - h) / 2, w, h);
  const px = ctx.getImageData(0, 0, 28, 28).data;
  let [mass, mx, my] = [0, 0, 0];
  let [r0, c0, r1, c1] = [28, 28, -1, -1]; // the scaled ink's rows and columns
  for (let p = 0; p < 784; p++) {
    const [r, c] = [Math.floor(p / 28), p % 28];
    mass += px[4 * p];
    mx += px[4 * p] * c;
    my += px[4 * p] * r;
    if (px[4 * p] > 0) [r0, c0, r1, c1] = [Math.min(r0, r), Math.min(c0, c), Math.max(r1, r), Math.max(c1, c)];
  }
  const within = (d, lo, hi) => Math.max(-lo, Math.min(27 - hi, d)); // a shift that keeps rows lo..hi inside
  const dx = within(Math.round(13.5 - mx / mass), c0, c1);
  const dy = within(Math.round(13.5 - my / mass), r0, r1);
  const pixels = new Uint8Array(784);
  for (let p = 0; p < 784; p++) {
    const [r, c] = [Math.floor(p / 28) - dy, (p % 28) - dx];
    if (r >= 0 && r < 28 && c >= 0 && c < 28) pixels[p] = px[4 * (r * 28 + c)];
  }
  return { pixels };
}

function setupDrawing() {
  const cv = $("draw");
  const ctx = cv.getContext("2d", { willReadFrequently: true }); // read back at every "read it"
  const clear = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, cv.width, cv.height);
    $("draw-note").textContent = "";
  };
  clear();
  let last = null;
  const at = (e) => [(e.offsetX * cv.width) / cv.clientWidth, (e.offsetY * cv.height) / cv.clientHeight];
  const stroke = (from, to) => {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 22;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
  };
  cv.addEventListener("pointerdown", (e) => {
    last = at(e);
    ctx.fillStyle = "#fff"; // a tap leaves a dot, as wide as a stroke
    ctx.beginPath();
    ctx.arc(...last, 11, 0, 2 * Math.PI);
    ctx.fill();
    cv.setPointerCapture(e.pointerId);
  });
  cv.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e);
    stroke(last, p);
    last = p;
  });
  cv.addEventListener("pointerup", () => { last = null; });
  $("draw-clear").addEventListener("click", clear);
  $("draw-close").addEventListener("click", () => $("draw-dialog").close());
  $("draw-open").addEventListener("click", () => {
    $("draw-note").textContent = "";
    $("draw-dialog").showModal();
  });
  $("draw-use").addEventListener("click", () => {
    const { pixels, error } = mnistPixels(cv);
    $("draw-note").textContent = error ?? "";
    if (!pixels) return;
    $("draw-dialog").close();
    useDrawing(pixels);
    state.t = 0;
    drawStep();
    play(true); // watch it read
  });
}

/** Read a drawing: kept in 16 grey levels, as the hash carries it, so a link shows the same numbers. */
function useDrawing(pixels) {
  drawn = pixels.map((v) => (v >> 4) * 17);
  setDigit("drawn");
}

// ---- events ----------------------------------------------------------------------------------------------------

/** The unit field's text: a unit number sets the unit (brought into 0…H-1, and said so); anything else is
 *  refused, said, and the field shows the unit again. */
function unitFromField(text) {
  const note = $("unit-note");
  if (!/^\s*[0-9]+\s*$/.test(text)) {
    note.textContent = `“${text}” is not a unit number (a whole number from 0 to ${H - 1}); still unit ${state.unit}.`;
    $("unit").value = String(state.unit);
    return;
  }
  const u = Number(text);
  note.textContent = u > H - 1 ? `Unit ${u} does not exist: layer ${state.layer} has units 0 to ${H - 1}, so unit ${H - 1}.` : "";
  setUnit(state.layer, Math.min(u, H - 1));
}

const TIME_BUTTONS = ["play", "step-back", "step-on"]; // Space plays on these; on any other button it presses it

/** ← → ↑ ↓ Home End Space on a digit thumb: move within the radio group (one tab stop), or choose. */
function digitKey(e) {
  const all = [...$("digit-list").querySelectorAll("[role=radio]")];
  const at = all.indexOf(e.target);
  const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: all.length - 1,
    " ": at }[e.key];
  if (to === undefined) return false;
  e.preventDefault();
  const target = all[(to + all.length) % all.length].dataset.digit;
  setDigit(target === "drawn" ? "drawn" : Number(target));
  $("digit-list").querySelector(`[data-digit="${target}"]`).focus();
  return true;
}

function setupEvents() {
  $("slider").addEventListener("input", (e) => setT(Number(e.target.value)));
  $("play").addEventListener("click", () => play(player === null));
  $("step-back").addEventListener("click", () => setT(state.t - 1));
  $("step-on").addEventListener("click", () => setT(state.t + 1));
  $("layer").addEventListener("change", (e) => setUnit(Number(e.target.value), state.unit));
  $("unit").addEventListener("change", (e) => unitFromField(e.target.value));
  $("unit-prev").addEventListener("click", () => setUnit(state.layer, state.unit - 1));
  $("unit-next").addEventListener("click", () => setUnit(state.layer, state.unit + 1));
  for (const m of MODELS) {
    $(`heat-${m}`).addEventListener("click", () => {
      state.heat = m;
      drawAll();
      saveHash();
    });
  }
  $("sort").addEventListener("change", (e) => {
    state.sort = e.target.value;
    drawOverview();
    saveHash();
  });
  $("clamp-gate").addEventListener("change", (e) => {
    const [lo, hi] = D.clamp_rules.ranges[e.target.value];
    Object.assign($("clamp-value"), { min: String(lo), max: String(hi) });
  });
  $("clamp-add").addEventListener("click", addClampFromForm);
  $("clamp-text-add").addEventListener("click", () => addClampText($("clamp-text").value));
  $("clamp-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter") addClampText(e.target.value);
  });
  $("notice-close").addEventListener("click", () => notify([]));
  for (const m of MODELS) {
    $(`eqs-${m}`).addEventListener("click", (e) => {
      const b = e.target.closest("button[data-key]");
      if (!b) return;
      const [model, gate, kind] = b.dataset.key.split("-");
      const same = state.term && termKey(state.term) === b.dataset.key;
      state.term = same ? null : { model, gate, kind };
      drawStep();
    });
  }
  document.addEventListener("keydown", (e) => {
    const target = e.target;
    const tag = target.tagName;
    if (tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "range")) return;
    if (target.closest("dialog") || e.altKey || e.ctrlKey || e.metaKey) return;
    if (target.getAttribute("role") === "radio" && target.closest("#digit-list") && digitKey(e)) return;
    if (e.key === " " && tag === "BUTTON" && !TIME_BUTTONS.includes(target.id)) return; // Space presses it
    const keys = {
      ArrowLeft: () => setT(state.t - 1), ArrowRight: () => setT(state.t + 1),
      Home: () => setT(0), End: () => setT(T - 1), // on the slider too (its own keys are the page's)
      ArrowUp: () => setUnit(state.layer, state.unit + 1), ArrowDown: () => setUnit(state.layer, state.unit - 1),
      " ": () => play(player === null),
    };
    if (!keys[e.key]) return;
    e.preventDefault(); // the page's meaning, not the control's (a slider's step, a scroll, a button's click)
    keys[e.key]();
    if (document.activeElement.tagName === "CANVAS") canvasTip(document.activeElement); // its value follows
  });
  document.addEventListener("pointerdown", (e) => { // a tap elsewhere puts a tapped value away
    if (!tipOf.has(e.target)) hideTip();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash !== hashOf()) applyHash(location.hash);
  });
  window.addEventListener("resize", () => {
    drawAnswer();
    drawGradient();
  });
}

function applyHash(hash) {
  const { next, pixels, ignored } = stateOfHash(hash);
  notify(ignored);
  if (pixels) drawn = pixels;
  Object.assign(state, next);
  recompute();
  drawAll();
}

// ---- the self-check: this page's forward against PyTorch's logits -----------------------------------------------

/** One forward at a time, each in its own task a little apart, so the page stays responsive meanwhile. */
function selfCheck() {
  let worst = 0;
  const todo = D.digits.flatMap((_, n) => MODELS.map((m) => [n, m]));
  const next = () => {
    if (todo.length) {
      const [n, m] = todo.shift();
      const run = baseRun(m, n);
      D.digits[n].logits[m].forEach((v, k) => { worst = Math.max(worst, Math.abs(v - run.logits[(T - 1) * C + k])); });
      setTimeout(next, 20);
      return;
    }
    window.explorer.check = { maxDiff: worst, digits: D.digits.length };
    const n = D.digits.length;
    $("check-line").textContent = `Check: this page's forward gives PyTorch's logits for all ${n} embedded ` +
      `digit${n === 1 ? "" : "s"}, trained and fresh, to ${worst.toExponential(1)} (the largest difference).`;
  };
  setTimeout(next, 200);
}

// ---- window.explorer: the state, the numbers shown, the forward (for tests and the curious) ------------------------

function float64Base64(arrays) {
  const n = arrays.reduce((s, a) => s + a.length, 0);
  const all = new Float64Array(n);
  let at = 0;
  for (const a of arrays) {
    all.set(a, at);
    at += a.length;
  }
  const bytes = new Uint8Array(all.buffer);
  let text = "";
  for (let k = 0; k < bytes.length; k += 0x8000) text += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
  return btoa(text);
}

window.explorer = {
  ready: false,
  check: null,
  /** The state: digit, t, layer, unit, heat (the overview's model), sort, clamps, term. */
  state: () => JSON.parse(JSON.stringify(state)),
  /** Change the state as a user would (any of the keys of state()); redraws. */
  set(change) {
    const data = "digit" in change || "clamps" in change;
    if (change.clamps) change = { ...change, clamps: change.clamps.map((cl) => ({ steps: null, ...cl })) };
    Object.assign(state, change);
    if (data) recompute();
    drawAll();
  },
  /** The text shown by the element with this data-testid. */
  text: (testid) => document.querySelector(`[data-testid="${testid}"]`)?.textContent ?? null,
  /** The forward of model m on embedded digit n with clamps ({gate, value, layer, units}), as base64 of float64s:
   *  per layer i, f, g, o, c, h (each T*H, step after step), then the logits (T*C). */
  trace(m, n, clamps = []) {
    const run = runClassifier(nets[m], sequenceOf(pixelsOf(n), M), clamps);
    return float64Base64([...run.layers.flatMap((L) => QUANTITIES.map((q) => L[q])), run.logits]);
  },
  /** Read a drawn digit (784 pixels, 0..255). */
  draw: (pixels) => useDrawing(Uint8Array.from(pixels)),
  /** The drawn digit's 784 pixels as the page reads them (null if none). */
  drawn: () => (drawn ? Array.from(drawn) : null),
  /** Whether the page is playing (stepping t on its own). */
  playing: () => player !== null,
  /** The trained model's answers (the class of the largest logit at the last step) for images given as base64
   *  of N x 784 bytes, with clamps given as text (as eval --clamp takes them). */
  classify(pixels, clampTexts = []) {
    const clamps = clampTexts.map((text) => {
      const { clamp, error } = parseClampText(text, D.clamp_rules, K, H);
      if (error) throw new Error(error);
      return clamp;
    });
    const all = bytesOf(pixels);
    const answers = [];
    for (let at = 0; at < all.length; at += 784) {
      const run = runClassifier(nets.trained, sequenceOf(all.subarray(at, at + 784), M), clamps);
      answers.push(argmax(run.logits, (T - 1) * C, C));
    }
    return answers;
  },
  /** The clamp rules the page carries and a clamp's text read by them: {clamp} or {error} (as clamps.js). */
  parseClamp: (text) => parseClampText(text, D.clamp_rules, K, H),
  hash: hashOf,
  /** Milliseconds per forward of model m on digit n (the mean of `repeats`). */
  timeForward(m = "trained", n = 0, repeats = 3) {
    const x = sequenceOf(pixelsOf(n), M);
    const start = performance.now();
    for (let r = 0; r < repeats; r++) runClassifier(nets[m], x, []);
    return (performance.now() - start) / repeats;
  },
  /** Milliseconds per step of the slider: the redraw and the layout it forces (the mean over all steps). */
  timeSteps() {
    const start = performance.now();
    for (let t = 0; t < T; t++) {
      setT(t === state.t ? (t + 1) % T : t);
      void document.body.offsetHeight; // the layout the browser would do before painting
    }
    return (performance.now() - start) / T;
  },
};

// ---- start ---------------------------------------------------------------------------------------------------------

function start() {
  D = JSON.parse($("explorer-data").textContent);
  M = D.model;
  [T, H, K, C] = [M.steps, M.hidden_size, M.num_layers, M.num_classes];
  nets = { trained: loadNet(D.weights.trained, M), fresh: loadNet(D.weights.fresh, M) };
  digitPixels = D.digits.map((d) => bytesOf(d.pixels));
  gradients = D.digits.map((d) => Object.fromEntries(MODELS.map((m) => [m,
    { dc: float32s(d.gradient[m].dc), forget: float32s(d.gradient[m].forget) }])));
  stepOfPixel = new Int32Array(784);
  for (let t = 0; t < T; t++) for (const p of pixelsReadAt(t)) stepOfPixel[p] = t;
  $("slider").max = String(T - 1);
  $("layer").innerHTML = [...Array(K).keys()].map((k) => `<option value="${k}">${k}</option>`).join("");
  $("unit").max = String(H - 1);
  drawHeader();
  buildUnitCards();
  setupEvents();
  setupDrawing();
  applyHash(location.hash);
  window.explorer.ready = true;
  window.explorer.readyMs = performance.now(); // since the page was asked for
  selfCheck();
}

document.addEventListener("DOMContentLoaded", start);
