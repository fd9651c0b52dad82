// view_epochs.js: watch the gates learn. A slider over the run's epochs, from fresh (epoch 0) to the trained
// checkpoint: the model the page calls "trained" becomes the run at that epoch, and every view (gates,
// equations, answer, saliency, overview, across digits, gradient) shows the same digit and unit then.
//
// Reads the page's data: D.epochs.shown, the epochs the page carries between fresh and trained (each with its
// weights in 8 bits a value, and the logits, gradients and per-class means Python computed from those same
// weights); the fresh and the trained model (nets, classMeans, gradients, as the start loaded them).
// Keeps state.epoch (null: the checkpoint's own epoch) in the URL hash as epoch=.
"use strict";

let epochStops = []; // from fresh to trained: {epoch, testAcc, bits, entry, net, classMeans, gradients, check}

/** The slider's stops: fresh (epoch 0), the carried snapshots, the checkpoint (its full float32 weights). */
function buildEpochStops() {
  const shown = D.epochs ? D.epochs.shown : [];
  if (!shown.length) {
    $("epochs").hidden = true;
    return;
  }
  const stop = (epoch, testAcc, m) => ({ epoch, testAcc, bits: 32, net: nets[m], classMeans: classMeans[m],
    gradients: gradients.map((g) => g[m]), check: null });
  epochStops = [stop(0, null, "fresh"),
    ...shown.map((e) => ({ epoch: e.epoch, testAcc: e.test_acc, bits: 8, entry: e, net: null, check: null })),
    stop(M.epoch, M.test_acc, "trained")];
  const slider = $("epoch");
  slider.max = String(epochStops.length - 1);
  slider.value = slider.max;
  $("epoch-ticks").innerHTML = epochStops.map((s) => `<span>${s.epoch}</span>`).join("");
  $("epochs").hidden = false;
}

/** Decode a snapshot's 8-bit weights (once), and check its forward against the logits PyTorch computed from
 *  them: the largest difference on the embedded digits. */
function loadStop(s) {
  if (s.net) return;
  const e = s.entry;
  s.net = loadNet(e.weights, M);
  s.classMeans = float32s(e.class_means);
  s.gradients = e.gradient.map((g) => ({ dc: float32s(g.dc), forget: float32s(g.forget) }));
  s.check = Math.max(...e.logits.map((logits, n) => logitGap(s.net, n, logits)));
}

/** The stop the state names (null: the last). */
const stopOf = (epoch) => epochStops.find((s) => s.epoch === epoch) ?? epochStops[epochStops.length - 1];

/** Make the run at `epoch` the model the page calls trained (no redraw). */
function useEpoch(epoch) {
  if (!epochStops.length) return;
  const s = stopOf(epoch);
  loadStop(s);
  nets.trained = s.net;
  classMeans.trained = s.classMeans;
  gradients.forEach((g, n) => { g.trained = s.gradients[n]; });
  baseCache.clear(); // its runs were the other model's
  state.epoch = s === epochStops[epochStops.length - 1] ? null : s.epoch;
}

function setEpoch(epoch) {
  useEpoch(epoch);
  recompute();
  drawAll();
  saveHash();
}

/** The name the views give the model at the slider's epoch: "trained", or "epoch 3". */
const trainedName = () => (state.epoch === null ? "trained" : `epoch ${state.epoch}`);

function drawEpochs() {
  if (!epochStops.length) return;
  const s = stopOf(state.epoch);
  const at = epochStops.indexOf(s);
  $("epoch").value = String(at);
  $("epoch").setAttribute("aria-valuetext", `epoch ${s.epoch}`);
  const acc = s.testAcc === null || s.testAcc === undefined ? "" : `, ${(100 * s.testAcc).toFixed(2)}% test accuracy`;
  let what;
  if (s.epoch === 0) what = "the fresh model, before training: both columns show it";
  else if (at === epochStops.length - 1) what = `the trained checkpoint${acc}, its full weights`;
  else {
    what = `the run after epoch ${s.epoch}${acc}: its weights at 8 bits a value (its gates and states lie within ` +
      `${s.entry.gate_diff.toExponential(1)} of its full weights' on the embedded digits; this page's forward ` +
      `gives PyTorch's logits of these weights to ${s.check.toExponential(1)})`;
  }
  $("epoch-label").innerHTML = `<strong>Epoch ${s.epoch}</strong> of ${M.epoch}: ${what}.`;
  $("head-trained").textContent = state.epoch === null ? "Trained" : `Epoch ${state.epoch}`;
}
