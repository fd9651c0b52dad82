// view_saliency.js: what the answer depends on: the saliency map d p(class) / d pixel on the digit (after
// the last step, or after step t), and the units that drive the answer, W_lin[c, j] · h_T[j], ranked.
//
// Reads the trained model's run on the shown digit with the clamps (runs.js) and its backward
// (lstm_backward.js: saliencyOf, answerDrivers), so it works for a drawn digit and under clamps too.
"use strict";

let salWhen = "end"; // "end": p after the last step; "t": the probe's p after step t
const SAL_SCALE = 6; // canvas pixels per digit pixel
const DRIVERS_SHOWN = 8;

/** The class the map explains: the trained model's answer at the last step, with the clamps. */
const answerClass = () => argmax(runs.trained.run.probs, (T - 1) * C, C);

function drawSaliency() {
  const cls = answerClass();
  const tau = salWhen === "end" ? T - 1 : state.t;
  const s = saliencyOf(nets.trained, pixelsOf(state.digit), M, state.clamps, cls, tau);
  let big = 0;
  for (const v of s) big = Math.max(big, Math.abs(v));
  const scale = { lut: LUTS.diverging, lo: -big || -1, hi: big || 1 };
  const cv = $("saliency");
  const ctx = cv.getContext("2d");
  const img = ctx.createImageData(28, 28);
  for (let p = 0; p < 784; p++) {
    const [r, g, b] = colourAt(scale, s[p]);
    img.data.set([r, g, b, 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
  const pixels = pixelsOf(state.digit); // the digit's outline over the map
  const over = $("saliency-ink").getContext("2d");
  over.clearRect(0, 0, 28 * SAL_SCALE, 28 * SAL_SCALE);
  over.fillStyle = "rgba(31, 35, 40, 0.55)";
  for (let p = 0; p < 784; p++) {
    if (pixels[p] > 127) over.fillRect((p % 28) * SAL_SCALE + 2, Math.floor(p / 28) * SAL_SCALE + 2, 2, 2);
  }
  const when = salWhen === "end" ? "after the last step" : `after step ${state.t} (the probe)`;
  $("saliency-caption").textContent = `d p(${cls}) / d pixel ${when}, trained model${state.clamps.length
    ? ", clamps held" : ""}: green raises p(${cls}), brown lowers it; ±${big.toExponential(1)} per grey level ` +
    "at the ends. Dots: the digit's ink.";
  drawAnswerDrivers(cls);
}

function drawAnswerDrivers(cls) {
  const run = runs.trained.run;
  const drivers = answerDrivers(nets.trained, run, cls);
  const total = drivers.reduce((sum, d) => sum + d.share, 0);
  const bias = nets.trained.lin_bias[cls];
  const rows = drivers.slice(0, DRIVERS_SHOWN).map((d) => `<li><button type="button" data-unit="${d.unit}" ` +
    `data-testid="answer-driver-${d.unit}">unit ${d.unit}</button> <span class="num">${fmt(d.share)}</span></li>`);
  $("answer-drivers").innerHTML = `<p class="caption">The logit of ${cls} after the last step is ` +
    `${fmt(total + bias)} = Σ<sub>j</sub> W<sub>lin</sub>[${cls}, j] · h<sub>T</sub>[j] (${fmt(total)}) + ` +
    `the bias (${fmt(bias)}). Its largest terms, units of layer ${K - 1}:</p><ol>${rows.join("")}</ol>`;
  $("answer-drivers").querySelectorAll("button[data-unit]").forEach((b) => b.addEventListener("click", () => {
    setUnit(K - 1, Number(b.dataset.unit));
  }));
}
