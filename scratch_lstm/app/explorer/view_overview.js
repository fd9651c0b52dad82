// view_overview.js: heatmaps of i, f, g, o, c, h over time (left to right) and units (one row each) of
// the selected layer, the step and the unit marked; each map a tab stop whose value at (t, unit) shows.
//
// Reads the runs (runs.js) of the overview's model, in the order unitOrder gives.
"use strict";

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
