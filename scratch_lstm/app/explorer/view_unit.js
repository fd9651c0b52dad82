// view_unit.js: the unit card: i, f, g, o, c, h of the selected unit at step t on fixed scales (gauges),
// each over all steps (strips), the unit's forget gate in numbers (its bias, the memory it gives), and
// across digits: its mean i, f, g, o, c, h per class, so a learner sees which digits the unit cares about.
//
// Reads the runs (runs.js), the weights' forget biases (nets) and, across digits, each class's mean of
// every quantity over the test images the page was made with (D.class_means: computed in Python).
"use strict";

// ---- the unit card: gauges at step t on fixed scales, strips over all steps -------------------------

function buildUnitCards() {
  for (const m of MODELS) {
    const col = $(`col-${m}`);
    col.innerHTML = `<h3 id="head-${m}">${m === "trained" ? "Trained" : "Fresh (before training)"}</h3>`;
    const g = el("div", { class: "gauges" });
    g.append(el("span", { class: "head" }, ""), el("span", { class: "head" }, "at step t, on its scale"),
      el("span", { class: "head" }, ""), el("span", { class: "head" }, "over all steps"));
    for (const q of QUANTITIES) {
      g.append(el("span", { class: "gname", id: `gname-${m}-${q}` }, q));
      const gauge = el("div", { class: "gauge", id: `gauge-${m}-${q}` },
        '<div class="zero"></div><div class="fill"></div>');
      g.append(gauge);
      g.append(el("span", { class: "gval", "data-testid": `value-${m}-${q}`, id: `value-${m}-${q}` }, ""));
      const strip = el("div", { class: "strip" });
      const cv = el("canvas", { width: T, height: 1, id: `strip-${m}-${q}`,
        "aria-label": `${NAMES[q]} over all steps` });
      cv.addEventListener("mousemove", (e) => stripTip(e, m, q));
      cv.addEventListener("mouseleave", hideTip);
      cv.addEventListener("click", (e) => { // a click or a tap: that step, and its value
        setT(stepUnder(e, cv));
        stripTip(e, m, q);
      });
      focusable(cv, `${NAMES[q]} of unit ${state.unit}, ${m}, over all steps`, () => {
        const value = fmt(valueAt(m, q, state.layer, state.t, state.unit));
        const text = `${m} ${q}, unit ${state.unit}, t = ${state.t}: ${value}`;
        return { text, x: ((state.t + 0.5) / T) * cv.clientWidth, y: cv.clientHeight };
      });
      strip.append(cv, el("div", { class: "mark", id: `mark-${m}-${q}` }));
      g.append(strip);
    }
    col.append(g, el("p", { class: "unit-note", id: `note-${m}`, "data-testid": `forgetting-${m}` }),
      el("div", { class: "across", id: `across-${m}`, "data-testid": `across-${m}` }),
      el("div", { class: "eqs", id: `eqs-${m}` }));
  }
}

const stepUnder = (e, canvas) => Math.max(0, Math.min(T - 1, Math.floor((e.offsetX / canvas.clientWidth) * T)));

function stripTip(e, m, q) {
  const t = stepUnder(e, e.target);
  showTip(e, `${m} ${q}, unit ${state.unit}, t = ${t}: ${fmt(valueAt(m, q, state.layer, t, state.unit))}`);
}

/** The c bound of the selected unit, shared by both models so their gauges compare. */
function unitCBound() {
  const values = [];
  for (const m of MODELS) for (let t = 0; t < T; t++) values.push(valueAt(m, "c", state.layer, t, state.unit));
  return niceBound(values);
}

function drawStrips() {
  const cmax = unitCBound();
  for (const m of MODELS) {
    for (const q of QUANTITIES) {
      const cv = $(`strip-${m}-${q}`);
      const ctx = cv.getContext("2d");
      const img = ctx.createImageData(T, 1);
      const scale = scaleOf(q, cmax);
      for (let t = 0; t < T; t++) {
        const [r, g, b] = colourAt(scale, valueAt(m, q, state.layer, t, state.unit));
        img.data.set([r, g, b, 255], 4 * t);
      }
      ctx.putImageData(img, 0, 0);
      const range = q === "c" ? `±${cmax}` : q === "g" || q === "h" ? "−1…1" : "0…1";
      $(`gname-${m}-${q}`).innerHTML = `${q} <small>${range}</small>`;
      $(`gname-${m}-${q}`).title = `${NAMES[q]}, on the scale ${range}`;
    }
  }
}

/** The unit's forget gate in numbers: its bias, the memory that bias alone gives, and this digit's mean f. */
function drawForgetting() {
  const j = state.unit;
  for (const m of MODELS) {
    const layer = nets[m].layers[state.layer];
    const bf = layer.bias_ih[H + j] + layer.bias_hh[H + j]; // b_f = b_if + b_hf
    let mean = 0;
    for (let t = 0; t < T; t++) mean += valueAt(m, "f", state.layer, t, j) / T;
    const steps = (x) => (x < 1e6 ? x.toFixed(1) : "∞");
    $(`note-${m}`).innerHTML = `Forget bias b<sub>if</sub> + b<sub>hf</sub> = ${fmt(bf)}: alone, f = σ(b<sub>f</sub>) = ` +
      `${fmt(sigmoid(bf))}, a memory of 1/(1 − f) = ${steps(1 + Math.exp(bf))} steps. Over this digit, mean f = ` +
      `${fmt(mean)}: ${steps(1 / (1 - mean))} steps.`;
  }
}

function drawGauges() {
  const cmax = unitCBound();
  for (const m of MODELS) {
    for (const q of QUANTITIES) {
      const v = valueAt(m, q, state.layer, state.t, state.unit);
      const { lo, hi } = scaleOf(q, cmax);
      const pos = (x) => (100 * (Math.max(lo, Math.min(hi, x)) - lo)) / (hi - lo);
      const zero = pos(0);
      const gauge = $(`gauge-${m}-${q}`);
      gauge.firstChild.style.left = `${zero}%`;
      const fill = gauge.lastChild;
      fill.style.left = `${Math.min(zero, pos(v))}%`;
      fill.style.width = `${Math.abs(pos(v) - zero)}%`;
      const out = $(`value-${m}-${q}`);
      out.textContent = fmt(v);
      const held = q !== "c" && heldAt(q, state.layer, state.unit) !== null;
      out.classList.toggle("held", held);
      out.title = held ? "held by a clamp" : "";
      $(`mark-${m}-${q}`).style.left = `calc(${((state.t + 0.5) / T) * 100}% - 1px)`;
    }
  }
}

let classMeans = null; // per model: Float32Array (K, 6, C, H) of per-class means (D.class_means)

/** The selected unit's mean of each quantity per class, trained and fresh: one row per quantity, one column
 *  per class, each cell coloured on the quantity's scale; the shown digit's class outlined. */
function drawAcrossDigits() {
  const k = state.layer;
  const j = state.unit;
  const truth = trueClass();
  const n = D.class_means.counts;
  for (const m of MODELS) {
    const mean = (q, c) => classMeans[m][((k * QUANTITIES.length + QUANTITIES.indexOf(q)) * C + c) * H + j];
    const cmax = niceBound(Array.from({ length: C }, (_, c) => mean("c", c)));
    const head = [...Array(C).keys()].map((c) => `<th class="${c === truth ? "now" : ""}">${c}</th>`).join("");
    const rows = QUANTITIES.map((q) => {
      const scale = scaleOf(q, cmax);
      const cells = [...Array(C).keys()].map((c) => {
        const v = mean(q, c);
        const [r, g, b] = colourAt(scale, v);
        const ink = 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#1f2328" : "#fff";
        return `<td class="${c === truth ? "now" : ""}" style="background:rgb(${r},${g},${b});color:${ink}" ` +
          `data-testid="across-${m}-${q}-${c}" title="${m}, unit ${j}: mean ${q} over ${n[c]} test images of ` +
          `class ${c}, every step: ${fmt(v)}">${fmt(v, 2)}</td>`;
      }).join("");
      return `<tr><th>${q}</th>${cells}</tr>`;
    }).join("");
    const images = Math.min(...n) === Math.max(...n) ? `${n[0]}` : `${Math.min(...n)} to ${Math.max(...n)}`;
    $(`across-${m}`).innerHTML = `<p class="unit-note">Across digits: the unit's mean over every step of ` +
      `${images} test images per class (the shown digit's class outlined).</p>` +
      `<div class="across-wrap"><table><tr><th></th>${head}</tr>${rows}</table></div>`;
  }
}

/** The units worth a look on this digit, each a button that selects it. */
function drawWorth() {
  const lists = unitsWorthALook();
  const groups = Object.entries(lists).map(([what, units]) => `<span class="worth-group">${what}: ` +
    units.map((u) => `<button type="button" data-layer="${u.layer}" data-unit="${u.unit}" ` +
      `title="${u.why}">${K > 1 ? `${u.layer}:` : ""}${u.unit}</button>`).join(" ") + "</span>").join(" ");
  const box = $("worth");
  box.innerHTML = `<span class="caption">Worth a look${K > 1 ? " (layer:unit)" : ""}:</span> ${groups}`;
  box.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => {
    setUnit(Number(b.dataset.layer), Number(b.dataset.unit));
  }));
}
