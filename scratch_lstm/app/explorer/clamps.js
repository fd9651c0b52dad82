// clamps.js: a clamp's text, read as scratch_lstm.GateClamp.parse reads it, and what a clamp holds.
//
// Shows nothing itself; the state (the URL hash), the clamp list and its form read and write clamps with it.
// Reads the page's data's clamp_rules: {ranges: {gate: [lo, hi]}, limits: {units, steps}}, the very
// CLAMP_RANGES and CLAMP_LIMITS of scratch_lstm/clamps.py, so the page accepts exactly the clamps that
// GateClamp and `scratch-lstm eval --clamp` accept (the tests hold the two parsers to the same answers).
//
// The form, as `eval --clamp` writes it:  GATE=VALUE[@LAYER][:UNITS][/STEPS]
//   f=1            f held at 1 in every layer, unit and step
//   h=0@1:3,7,9    the output of units 3, 7 and 9 of layer 1 held at 0 (silenced)
//   f=0@1:5/15     unit 5 of layer 1 forgets everything at step 15 (and only there)
//   o=0.5:0-9/10-27  units 0 to 9 of every layer, o held at 0.5 from step 10 to step 27
// A clamp here is {gate, value, layer, units, steps}: layer null (every layer) or k; units null (every unit)
// or sorted unit indices; steps null (every step) or [first, last].
// Defines parseClampText, clampText, clampHolds, conflictsOf, heldValues (the scripts share one scope).
"use strict";

const CLAMP_FORM = "GATE=VALUE[@LAYER][:UNITS][/STEPS], e.g. f=1, h=0@1, f=1@0:3,7,0-9 or f=0/15-17";
const CLAMP_NUMBER = /^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/; // GateClamp's NUMBER: ASCII digits
const CLAMP_INDEX = /^[0-9]+$/; // GateClamp's INDEX

/** The runs [[a, b], ...] of "a,b-c,..."; null if the text is not of that form; {error} for a run that runs
 *  backwards or names an index at or beyond limit (checked before a run is spelled out). */
function clampRuns(text, limit, what, plural) {
  const runs = [];
  for (const part of text.split(",")) {
    const p = part.trim();
    const dash = p.indexOf("-");
    const [lo, hi] = dash < 0 ? [p, p] : [p.slice(0, dash), p.slice(dash + 1)];
    if (!CLAMP_INDEX.test(lo) || !CLAMP_INDEX.test(hi)) return null;
    const [a, b] = [Number(lo), Number(hi)];
    if (b < a) return { error: `the ${what} range ${p} runs backwards; write ${b}-${a}` };
    if (b >= limit) return { error: `${what} ${b} does not exist: no LSTM here has more than ${limit} ${plural}` };
    runs.push([a, b]);
  }
  return runs;
}

/** Read one clamp's text as GateClamp.parse does, then check it against the model (K layers of H units) as
 *  check_clamps does. Returns {clamp} or {error} (what was expected, and what came). */
function parseClampText(text, rules, K, H) {
  const bad = (error) => ({ error });
  if (typeof text !== "string") return bad(`a clamp's text must be a string (${CLAMP_FORM})`);
  const cut = (s, sep) => (s.includes(sep) ? [s.slice(0, s.indexOf(sep)), true, s.slice(s.indexOf(sep) + 1)]
    : [s, false, ""]);
  const [rest, slash, stepsText] = cut(text, "/");
  const [head, colon, unitsText] = cut(rest, ":");
  const [gateValue, at, layerText] = cut(head, "@");
  const [gateText, eq, valueText] = cut(gateValue, "=");
  const gate = gateText.trim();
  if (!eq || !gate) return bad(`expected ${CLAMP_FORM}, got '${text}'`);
  if (!(gate in rules.ranges)) {
    return bad(`the gate must be one of ${Object.keys(rules.ranges).join(", ")} (${CLAMP_FORM}), got '${gate}'`);
  }
  if (!CLAMP_NUMBER.test(valueText.trim())) {
    return bad(`the value after ${gate}= must be a number (${CLAMP_FORM}), got '${valueText}'`);
  }
  const value = Number(valueText);
  const [lo, hi] = rules.ranges[gate];
  if (!(Number.isFinite(value) && lo <= value && value <= hi)) {
    const kind = gate === "g" || gate === "h" ? "a tanh" : "a sigmoid gate";
    return bad(`${gate} is ${kind}: its clamp value must be in [${lo}, ${hi}], got ${value}`);
  }
  let layer = null;
  if (at) {
    if (!CLAMP_INDEX.test(layerText.trim())) {
      return bad(`the layer after @ must be an integer >= 0 (${CLAMP_FORM}), got '${layerText}'`);
    }
    layer = Number(layerText);
  }
  let units = null;
  if (colon) {
    const runs = clampRuns(unitsText, rules.limits.units, "unit", "units");
    if (runs === null) {
      return bad(`the units after : must be indices or ranges a-b, separated by commas (${CLAMP_FORM}), ` +
        `got '${unitsText}'`);
    }
    if (runs.error) return runs;
    units = new Set();
    for (const [a, b] of runs) {
      if (b >= H) {
        return bad(`clamp ${text}: unit ${b} does not exist; the LSTM has ${H} units per layer, 0 to ${H - 1}`);
      }
      for (let u = a; u <= b; u++) units.add(u);
    }
    units = [...units].sort((a, b) => a - b);
  }
  let steps = null;
  if (slash) {
    const runs = clampRuns(stepsText, rules.limits.steps, "step", "steps");
    if (runs === null || runs.length !== 1) {
      return bad(`the steps after / must be one step t or one window a-b (${CLAMP_FORM}), got '${stepsText}'`);
    }
    if (runs.error) return runs;
    steps = runs[0];
  }
  if (layer !== null && layer >= K) {
    return bad(`clamp ${text}: layer ${layer} does not exist; the LSTM has ${K} layer(s), 0 to ${K - 1}`);
  }
  return { clamp: { gate, value, layer, units, steps } };
}

/** A clamp in the form parseClampText reads (and `eval --clamp` takes): runs of units and steps as a-b. */
function clampText(cl) {
  let text = `${cl.gate}=${cl.value}${cl.layer === null ? "" : `@${cl.layer}`}`;
  if (cl.units !== null) {
    const runs = [];
    for (const u of cl.units) {
      if (runs.length && u === runs[runs.length - 1][1] + 1) runs[runs.length - 1][1] = u;
      else runs.push([u, u]);
    }
    text += ":" + runs.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",");
  }
  if (cl.steps) text += cl.steps[0] === cl.steps[1] ? `/${cl.steps[0]}` : `/${cl.steps[0]}-${cl.steps[1]}`;
  return text;
}

/** Whether clamp cl holds its gate in layer k, unit j, step t. */
const clampHolds = (cl, k, j, t) => (cl.layer === null || cl.layer === k) && (cl.units === null ||
  cl.units.includes(j)) && (!cl.steps || (cl.steps[0] <= t && t <= cl.steps[1]));

/** For each clamp, the later clamps of the same gate that overlap it (layers, units and steps): where two
 *  overlap, the later one wins, as in GateClamp. Returns [{n, over: [m, ...]}] for every clamp n overridden. */
function conflictsOf(clamps) {
  const meets = (a, b) => (a === null || b === null || a.some((u) => b.includes(u)));
  const overlapSteps = (a, b) => !a || !b || (a[0] <= b[1] && b[0] <= a[1]);
  const found = [];
  clamps.forEach((a, n) => {
    const over = [];
    clamps.forEach((b, m) => {
      if (m > n && a.gate === b.gate && (a.layer === null || b.layer === null || a.layer === b.layer) &&
        meets(a.units, b.units) && overlapSteps(a.steps, b.steps)) over.push(m);
    });
    if (over.length) found.push({ n, over });
  });
  return found;
}

/** The values the clamps hold in layer k (H units) at step t: {i, f, g, o, h}, each an array of a value or
 *  null per unit; null when no clamp touches the layer at that step. A later clamp wins. */
function heldValues(clamps, k, H, t) {
  const touching = (clamps || []).filter((cl) => (cl.layer === null || cl.layer === k) &&
    (!cl.steps || (cl.steps[0] <= t && t <= cl.steps[1])));
  if (touching.length === 0) return null;
  const held = {};
  for (const q of ["i", "f", "g", "o", "h"]) held[q] = new Array(H).fill(null);
  for (const cl of touching) {
    for (const j of cl.units === null ? held[cl.gate].keys() : cl.units) {
      if (j >= 0 && j < H) held[cl.gate][j] = cl.value;
    }
  }
  return held;
}
