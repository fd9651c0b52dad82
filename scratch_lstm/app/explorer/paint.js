// paint.js: what every view paints with: the colour scales, canvases at the screen's density, the axes of
// a small chart, and the tip that shows a value (on hover, on a tap, or while a canvas has the keyboard).
//
// Reads no data; the views call it.
"use strict";

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
