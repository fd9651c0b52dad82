// state.js: what the page is showing, and the URL hash that names it.
//
// Shows nothing itself.
// Reads the page's data (D: the JSON at the end of the page) once, at the start, for the sizes (T steps,
// K layers of H units, C classes) and the embedded digits; keeps the state (digit, step t, layer, unit,
// clamps, the overview's model and order, the clicked term) and writes it into the URL hash, so a link
// names one moment; reads a hash back, saying what of it it could not use.
// Uses parseClampText, clampText (clamps.js).
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

const state = { digit: 0, t: 0, layer: 0, unit: 0, heat: "trained", sort: "unit", clamps: [], term: null,
  epoch: null }; // epoch: the slider's (view_epochs.js); null: the checkpoint's own

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
  if (state.epoch !== null) parts.push(["epoch", state.epoch]);
  if (state.digit === "drawn") parts.push(["drawn", packPixels(drawn)]);
  return "#" + parts.map(([k, v]) => `${k}=${v}`).join("&");
}

const HASH_KEYS = ["digit", "t", "layer", "unit", "clamps", "overview", "sort", "epoch", "drawn"];

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
  const next = { digit: 0, t: 0, layer: 0, unit: 0, heat: "trained", sort: "unit", clamps: [], term: null,
    epoch: null };
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
  if (p.overview !== undefined && !MODELS.includes(p.overview)) {
    ignored.push(`overview=${p.overview}: not trained or fresh`);
  }
  if (MODELS.includes(p.overview)) next.heat = p.overview;
  if (p.sort !== undefined && !SORTS.includes(p.sort)) ignored.push(`sort=${p.sort}: not one of ${SORTS.join(", ")}`);
  if (SORTS.includes(p.sort)) next.sort = p.sort;
  if (p.epoch !== undefined) {
    const stops = epochStops.map((s) => s.epoch);
    const e = /^[0-9]+$/.test(p.epoch) ? Number(p.epoch) : NaN;
    if (!stops.length) ignored.push(`epoch=${p.epoch}: this page carries no epochs between fresh and trained`);
    else if (!stops.includes(e)) {
      ignored.push(`epoch=${p.epoch}: this page carries epochs ${stops.join(", ")}, so the trained one`);
    } else if (e !== stops[stops.length - 1]) next.epoch = e;
  }
  const found = clampsOfHash(p.clamps || "");
  next.clamps = found.clamps;
  ignored.push(...found.ignored);
  const pickUnit = p.layer === undefined && p.unit === undefined; // open on a unit worth a look, not on unit 0
  return { next, pixels, ignored, pickUnit };
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
