// view_gradient.js: the gradient through time: ‖dL/dc_t‖ relative to the last step's, beside the mean
// product of the forget gates after t, trained and fresh, on a log scale with plain-number ticks.
//
// Reads the gradients measured in Python when the page was made (D.digits[n].gradient: log10 values,
// scratch_lstm.gradient_flow), so none for a drawn digit or under clamps.
"use strict";

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
  if (Math.abs(v - Math.round(v)) < 1e-9) { // a whole decade: 1000, 1, 0.01, then 1e-4
    return v >= -3 && v <= 3 ? String(Math.round(x * 1000) / 1000) : `1e${Math.round(v)}`;
  }
  return v >= -3 ? x.toPrecision(2) : x.toExponential(1);
}
