// view_answer.js: the answer forming: the softmax of the head read after every step (a probe: the head
// was trained on the last step only), both models, and p(true class) over t.
//
// Reads the runs' probabilities (runs.js), with and without the clamps.
"use strict";

// ---- the answer forming: the softmax probe at every step ----------------------------------------------

function drawAnswer() {
  const t = state.t;
  const truth = trueClass();
  const label = state.digit === "drawn" ? "read" : "true";
  const at = t * C;
  const rows = [`<span></span><span class="hd trained-text">${trainedName()}</span><span></span>` +
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
  let text = `At the last step the <span class="trained-text">${trainedName()}</span> model reads ${says("trained", "run")}, ` +
    `the <span class="fresh-text">fresh</span> one ${says("fresh", "run")}` +
    (state.digit === "drawn" ? `. It has no “not a digit” answer: shown anything, it names one of 0…${C - 1}.`
      : `; the label is ${truth}.`);
  if (state.clamps.length) {
    text += ` <span class="held">With the clamps held.</span> Without them: ${trainedName()} ${says("trained", "base")}, ` +
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
