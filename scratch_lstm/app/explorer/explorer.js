// explorer.js: the page's start and its wiring: what each change of state redraws, the keys and the
// controls, and the self-check against PyTorch's logits.
//
// Reads the page's data (the JSON at the end of the page) once, at the start. The other files, in the order
// the page loads them: lstm.js (the forward), clamps.js (a clamp's text), state.js (the state and its URL),
// runs.js (both models on the digit), paint.js (colours, canvases, tips), then one file per view (view_*.js);
// after this one, api.js (window.explorer).
"use strict";

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
  if (salWhen === "t" || salDrawn !== runs) drawSaliency(); // after step t follows t; the end, the runs
  salDrawn = runs;
  drawGradient();
  saveHash();
}

let salDrawn = null; // the runs the saliency map was last drawn for

function drawUnit() {
  $("layer").value = String(state.layer);
  $("unit").value = String(state.unit);
  $("unit-caption").textContent = `of 0…${H - 1} in layer ${state.layer}`;
  drawStrips();
  drawForgetting();
  drawAcrossDigits();
  drawSaturation();
  drawStep();
}

function drawAll() {
  drawEpochs();
  drawDigitList();
  drawClamps();
  drawWorth();
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

// ---- events ----------------------------------------------------------------------------------------------------

/** The unit field's text: a unit number sets the unit (brought into 0…H-1, and said so); anything else is
 *  refused, said, and the field shows the unit again. */
function unitFromField(text) {
  const note = $("unit-note");
  if (!/^\s*[0-9]+\s*$/.test(text)) {
    note.textContent = `“${text}” is not a unit number (a whole number from 0 to ${H - 1}); ` +
      `still unit ${state.unit}.`;
    $("unit").value = String(state.unit);
    return;
  }
  const u = Number(text);
  note.textContent = u <= H - 1 ? ""
    : `Unit ${u} does not exist: layer ${state.layer} has units 0 to ${H - 1}, so unit ${H - 1}.`;
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
  $("epoch").addEventListener("input", (e) => setEpoch(epochStops[Number(e.target.value)].epoch));
  $("tour-start").addEventListener("click", () => goTour(tourAt === null ? 0 : null));
  for (const when of ["end", "t"]) {
    $(`sal-${when}`).addEventListener("click", () => {
      salWhen = when;
      $("sal-end").setAttribute("aria-pressed", String(when === "end"));
      $("sal-t").setAttribute("aria-pressed", String(when === "t"));
      drawSaliency();
    });
  }
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
    if (target.id === "epoch") return; // the epoch slider's keys move the epoch
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
  const { next, pixels, ignored, pickUnit } = stateOfHash(hash);
  notify(ignored);
  if (pixels) drawn = pixels;
  Object.assign(state, next);
  useEpoch(next.epoch);
  recompute();
  if (pickUnit) { // no unit named: the one that drives the trained model's answer most
    const [top] = unitsWorthALook(1)["drives the answer"];
    [state.layer, state.unit] = [top.layer, top.unit];
  }
  drawAll();
}

// ---- the self-check: this page's forward against PyTorch's logits -----------------------------------------------

let loaded; // the fresh and the trained model as the page carries them, whatever epoch the slider shows

/** One forward at a time, each in its own task a little apart, so the page stays responsive meanwhile. */
function selfCheck() {
  let worst = 0;
  const todo = D.digits.flatMap((_, n) => MODELS.map((m) => [n, m]));
  const next = () => {
    if (todo.length) {
      const [n, m] = todo.shift();
      worst = Math.max(worst, logitGap(loaded[m], n, D.digits[n].logits[m])); // whatever epoch is shown
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

// ---- start ---------------------------------------------------------------------------------------------------------

function start() {
  D = JSON.parse($("explorer-data").textContent);
  M = D.model;
  [T, H, K, C] = [M.steps, M.hidden_size, M.num_layers, M.num_classes];
  nets = { trained: loadNet(D.weights.trained, M), fresh: loadNet(D.weights.fresh, M) };
  loaded = { ...nets };
  digitPixels = D.digits.map((d) => bytesOf(d.pixels));
  classMeans = Object.fromEntries(MODELS.map((m) => [m, float32s(D.class_means[m])]));
  gradients = D.digits.map((d) => Object.fromEntries(MODELS.map((m) => [m,
    { dc: float32s(d.gradient[m].dc), forget: float32s(d.gradient[m].forget) }])));
  buildEpochStops();
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
