// runs.js: both models run on the shown digit, with and without the clamps, and the numbers the views
// derive from those runs (the held value of a gate, saturation shares, the overview's order of units, the
// units worth a look).
//
// Reads the state (state.js) and the weights (nets: lstm.js's loadNet of the page's data); every number the
// page shows comes from runClassifier (lstm.js) through here.
// Uses runClassifier, sequenceOf (lstm.js), answerDrivers (lstm_backward.js) and clampHolds (clamps.js).
"use strict";

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

/** The largest difference between `logits` (PyTorch's, after the last step) and the forward of `net` on
 *  embedded digit n: how the page checks its own arithmetic. */
function logitGap(net, n, logits) {
  const run = runClassifier(net, sequenceOf(digitPixels[n], M), []);
  return Math.max(...logits.map((v, k) => Math.abs(v - run.logits[(T - 1) * C + k])));
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

/** Units worth a look on this digit (the trained model, with the clamps): the longest memories (highest
 *  mean f over the steps, any layer), the most saturated (share of steps with i, f, o below or above the
 *  thresholds) and the biggest drivers of the answer (|W_lin[c, j] h_T[j]|, the top layer). Each a list of
 *  {layer, unit, why}, best first. */
function unitsWorthALook(n = 2) {
  const memory = [];
  const saturated = [];
  for (let k = 0; k < K; k++) {
    const f = runs.trained.run.layers[k].f;
    const shares = ["i", "f", "o"].map((q) => saturationShares("trained", k, q));
    for (let j = 0; j < H; j++) {
      let mean = 0;
      for (let t = 0; t < T; t++) mean += f[t * H + j] / T;
      memory.push({ layer: k, unit: j, score: mean, why: `mean f ${fmt(mean, 3)}` });
      const share = shares.reduce((s, { below, above }) => s + (below[j] + above[j]) / 3, 0);
      saturated.push({ layer: k, unit: j, score: share, why: `${fmt(100 * share, 0)}% saturated` });
    }
  }
  const cls = argmax(runs.trained.run.probs, (T - 1) * C, C);
  const drivers = answerDrivers(nets.trained, runs.trained.run, cls).map((d) => ({ layer: K - 1, unit: d.unit,
    score: Math.abs(d.share), why: `${fmt(d.share, 2)} of the logit of ${cls}` }));
  const best = (list) => list.sort((a, b) => b.score - a.score || a.layer - b.layer || a.unit - b.unit).slice(0, n);
  return { "drives the answer": best(drivers), "longest memory": best(memory), "most saturated": best(saturated) };
}
