// view_saturation.js: Karpathy et al.'s (2015) saturation plot, live: per unit of the selected layer, the
// share of this digit's steps with i, f, o below 0.1 and above 0.9, trained (filled) and fresh (hollow).
//
// Reads the runs (runs.js: saturationShares) and the thresholds the page carries (D.saturation).
"use strict";

// ---- saturation: Karpathy et al.'s scatter, live -------------------------------------------------------

let satDots = []; // per canvas: [{x, y, unit}] in CSS pixels, for hover and click

/** What a saturation plot says about unit j's gate q, trained and fresh. */
function satText(q, j) {
  const share = (m) => {
    const { below, above } = saturationShares(m, state.layer, q);
    return `< ${D.saturation[0]} at ${fmt(100 * below[j], 0)}% of steps, ` +
      `> ${D.saturation[1]} at ${fmt(100 * above[j], 0)}%`;
  };
  return `${q}, unit ${j}: trained ${share("trained")}; fresh ${share("fresh")}`;
}

function drawSaturation() {
  const box = $("saturation");
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
  box.innerHTML = "";
  satDots = [];
  const size = 124;
  const pad = 22;
  for (const q of ["i", "f", "o"]) {
    const wrap = el("div", {});
    const cv = el("canvas", { "data-testid": `saturation-${q}`, "aria-label": `saturation of ${NAMES[q]}` });
    const ctx = crisp(cv, size + pad, size + pad);
    ctx.strokeStyle = "#d9dde3";
    ctx.strokeRect(pad, 0.5, size - 0.5, size);
    ctx.beginPath(); // x + y = 1: no unit can lie beyond it
    ctx.moveTo(pad, 0.5);
    ctx.lineTo(pad + size, size);
    ctx.stroke();
    ctx.fillStyle = "#5b6470";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(`${q}`, pad + size - 14, 14);
    ctx.fillText("0", pad - 10, size);
    ctx.fillText("1", pad - 10, 10);
    ctx.fillText(`share < ${D.saturation[0]} →`, pad + 4, size + 15);
    ctx.save();
    ctx.translate(11, size - 4);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(`share > ${D.saturation[1]} →`, 0, 0);
    ctx.restore();
    const dots = [];
    for (const m of ["fresh", "trained"]) {
      const { below, above } = saturationShares(m, state.layer, q);
      for (let j = 0; j < H; j++) {
        const [x, y] = [pad + below[j] * (size - 4) + 2, size - above[j] * (size - 4) - 2];
        dots.push({ x, y, unit: j, model: m, below: below[j], above: above[j] });
        ctx.beginPath();
        ctx.arc(x, y, 2.6, 0, 2 * Math.PI);
        if (m === "trained") {
          ctx.fillStyle = "rgba(0, 114, 178, 0.55)";
          ctx.fill();
        } else {
          ctx.strokeStyle = "rgba(213, 94, 0, 0.7)";
          ctx.lineWidth = 1;
          ctx.stroke();
        }
      }
    }
    for (const d of dots.filter((d) => d.unit === state.unit)) { // the selected unit: ringed
      ctx.beginPath();
      ctx.arc(d.x, d.y, 5.5, 0, 2 * Math.PI);
      ctx.strokeStyle = "#1f2328";
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
    satDots.push(dots);
    const nearest = (e) => {
      let best = null;
      let dist = 49;
      for (const d of dots) {
        const dd = (d.x - e.offsetX) ** 2 + (d.y - e.offsetY) ** 2;
        if (dd < dist) [best, dist] = [d, dd];
      }
      return best;
    };
    cv.addEventListener("mousemove", (e) => {
      const d = nearest(e);
      if (!d) return hideTip();
      showTip(e, `${q}, unit ${d.unit} (${d.model}): < ${D.saturation[0]} at ${fmt(100 * d.below, 0)}% of steps, ` +
        `> ${D.saturation[1]} at ${fmt(100 * d.above, 0)}%`);
    });
    cv.addEventListener("mouseleave", hideTip);
    cv.addEventListener("click", (e) => { // a click or a tap: that unit, and its shares
      const d = nearest(e);
      if (!d) return;
      setUnit(state.layer, d.unit);
      showTip(e, satText(q, d.unit));
    });
    focusable(cv, `saturation of ${NAMES[q]}: one dot per unit of layer ${state.layer}`, () => {
      const d = dots.find((dot) => dot.unit === state.unit && dot.model === "trained");
      return { text: satText(q, state.unit), x: d.x, y: d.y + 8 };
    });
    wrap.append(cv);
    box.append(wrap);
  }
  const mean = (m, q) => {
    const { below, above } = saturationShares(m, state.layer, q);
    let s = 0;
    for (let j = 0; j < H; j++) s += (below[j] + above[j]) / H;
    return `${fmt(100 * s, 0)}%`;
  };
  if (focused) box.querySelector(`[data-testid="${focused}"]`).focus(); // a redraw keeps the keyboard's place
  box.append(el("p", { class: "sat-legend", "data-testid": "saturation-summary" },
    `<span class="trained-text">● ${trainedName()}</span> <span class="fresh-text">○ fresh</span>, ` +
    `layer ${state.layer}, over this digit's ${T} steps. Saturated share, ${trainedName()} (fresh): ` +
    ["i", "f", "o"].map((q) => `${q} ${mean("trained", q)} (${mean("fresh", q)})`).join(", ") + "."));
}
