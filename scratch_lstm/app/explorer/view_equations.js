// view_equations.js: the six equations of the selected unit at step t with every term's number, and what
// drove a clicked term W x_t or W h_{t-1} (its largest products w · input).
//
// Reads the runs (runs.js: Wx, Wh, z and the gates of each step) and the weights (nets: the biases, the
// rows of W_ih and W_hh).
"use strict";

// ---- the equations, with every term's number ---------------------------------------------------------

const sub = (s) => `<sub>${s}</sub>`;
const ACT = { i: "σ", f: "σ", g: "tanh", o: "σ" };
const ACT_FN = { i: sigmoid, f: sigmoid, g: Math.tanh, o: sigmoid };

/** One term of an equation: its number over its symbol; a button where it can say what drove it. */
function term(sym, value, testid, opts = {}) {
  const cls = ["term", opts.result ? "result" : "", opts.held ? "held" : ""].join(" ").trim();
  const was = opts.was !== undefined ? `<span class="was" title="computed, then held">${fmt(opts.was)}</span>` : "";
  const inner = `<span class="sym">${sym}</span>${was}<span class="num" data-testid="${testid}">${fmt(value)}</span>`;
  if (!opts.key) return `<span class="${cls}">${inner}</span>`;
  const pressed = state.term && opts.key === termKey(state.term);
  return `<button type="button" class="${cls}" data-key="${opts.key}" aria-pressed="${pressed}" ` +
    `title="what drove this term most">${inner}</button>`;
}
const op = (s) => `<span class="op">${s}</span>`;
const termKey = (tm) => `${tm.model}-${tm.gate}-${tm.kind}`;

function drawEquations() {
  const k = state.layer;
  const j = state.unit;
  const t = state.t;
  for (const m of MODELS) {
    const L = runs[m].run.layers[k];
    const layer = nets[m].layers[k];
    const rows = [];
    GATES.forEach((q, n) => {
      const r = n * H + j;
      const at = t * 4 * H + r;
      const z = L.z[at];
      const used = L[q][t * H + j];
      const held = heldAt(q, k, j);
      const gateTerm = held === null
        ? term(`${q}${sub("t")} = ${ACT[q]}(z${sub(q)})`, used, `eq-${m}-${q}`, { result: true })
        : term(`${q}${sub("t")} held`, used, `eq-${m}-${q}`, { result: true, held: true, was: ACT_FN[q](z) });
      rows.push(`<div class="eq">${[
        `<span class="lhs">z${sub(q)} =</span>`,
        term(`W${sub("i" + q)}x${sub("t")}`, L.Wx[at], `eq-${m}-${q}-wx`, { key: `${m}-${q}-x` }), op("+"),
        term(`W${sub("h" + q)}h${sub("t−1")}`, L.Wh[at], `eq-${m}-${q}-wh`, { key: `${m}-${q}-h` }), op("+"),
        term(`b${sub("i" + q)}`, layer.bias_ih[r], `eq-${m}-${q}-bi`), op("+"),
        term(`b${sub("h" + q)}`, layer.bias_hh[r], `eq-${m}-${q}-bh`), op("="),
        term(`z${sub(q)}`, z, `eq-${m}-${q}-z`), op("→"), gateTerm,
      ].join("")}</div>`);
    });
    const v = (q, tt = t) => (tt < 0 ? 0 : L[q][tt * H + j]);
    const [f, i, g, o, c, cPrev] = [v("f"), v("i"), v("g"), v("o"), v("c"), v("c", t - 1)];
    rows.push('<div class="eq-sep"></div>');
    rows.push(`<div class="eq">${[
      `<span class="lhs">c${sub("t")} =</span>`,
      term(`f${sub("t")}`, f, `eq-${m}-c-f`), op("×"), term(`c${sub("t−1")}`, cPrev, `eq-${m}-c-cprev`), op("+"),
      term(`i${sub("t")}`, i, `eq-${m}-c-i`), op("×"), term(`g${sub("t")}`, g, `eq-${m}-c-g`),
    ].join("")}</div>`);
    rows.push(`<div class="eq">${[
      `<span class="lhs">=</span>`,
      term(`f${sub("t")}c${sub("t−1")}`, f * cPrev, `eq-${m}-c-fc`), op("+"),
      term(`i${sub("t")}g${sub("t")}`, i * g, `eq-${m}-c-ig`), op("="),
      term(`c${sub("t")}`, c, `eq-${m}-c`, { result: true }),
    ].join("")}</div>`);
    const hHeld = heldAt("h", k, j);
    const hTerm = hHeld === null ? term(`h${sub("t")}`, v("h"), `eq-${m}-h`, { result: true })
      : term(`h${sub("t")} held`, v("h"), `eq-${m}-h`, { result: true, held: true, was: o * Math.tanh(c) });
    rows.push(`<div class="eq">${[
      `<span class="lhs">h${sub("t")} =</span>`,
      term(`o${sub("t")}`, o, `eq-${m}-h-o`), op("×"), term(`tanh(c${sub("t")})`, Math.tanh(c), `eq-${m}-h-tanhc`),
      op("="), hTerm,
    ].join("")}</div>`);
    const box = $(`eqs-${m}`);
    const active = document.activeElement;
    const focused = active && box.contains(active) ? active.dataset.key : null; // keep a focused term focused
    box.innerHTML = rows.join("");
    if (focused) box.querySelector(`[data-key="${focused}"]`)?.focus();
  }
}

// ---- what drove a term: the largest products w x of W x_t or W h_{t-1} -----------------------------

/** The products behind the clicked term, largest |w x| first: {who, input, weight, product, pixel?, unit?}. */
function driversOf(tm) {
  const k = state.layer;
  const t = state.t;
  const q = GATES.indexOf(tm.gate);
  const r = q * H + state.unit;
  const layer = nets[tm.model].layers[k];
  const L = runs[tm.model].run.layers;
  const list = [];
  if (tm.kind === "x") {
    const I = layer.I;
    for (let n = 0; n < I; n++) {
      const w = layer.weight_ih[r * I + n];
      let input;
      let who;
      const d = {};
      if (k === 0) {
        const x = sequenceOf(pixelsOf(state.digit), M);
        input = x[t * I + n];
        d.pixel = M.sequence === "rows" ? 28 * t + n : pixelsReadAt(t)[0];
        who = `pixel (${Math.floor(d.pixel / 28)}, ${d.pixel % 28})`;
      } else {
        input = L[k - 1].h[t * H + n];
        d.unit = n;
        d.layer = k - 1;
        who = `unit ${n} of layer ${k - 1}`;
      }
      list.push({ ...d, who, input, weight: w, product: w * input });
    }
  } else {
    for (let n = 0; n < H; n++) {
      const w = layer.weight_hh[r * H + n];
      const input = t > 0 ? L[k].h[(t - 1) * H + n] : 0;
      list.push({ who: `unit ${n}`, unit: n, layer: k, input, weight: w, product: w * input });
    }
  }
  return list.sort((a, b) => Math.abs(b.product) - Math.abs(a.product));
}

function highlightedPixels() {
  if (!state.term || state.term.kind !== "x" || state.layer !== 0) return [];
  return driversOf(state.term).slice(0, TOP).filter((d) => d.product !== 0)
    .map((d) => ({ pixel: d.pixel, positive: d.product > 0 }));
}

function drawDrivers() {
  const box = $("drivers");
  if (!state.term) {
    box.hidden = true;
    return;
  }
  const tm = state.term;
  const all = driversOf(tm);
  const top = all.slice(0, TOP);
  const total = all.reduce((s, d) => s + d.product, 0);
  const topSum = top.reduce((s, d) => s + d.product, 0);
  const big = Math.max(1e-12, ...top.map((d) => Math.abs(d.product)));
  const sym = tm.kind === "x" ? `W<sub>i${tm.gate}</sub>x<sub>t</sub>` : `W<sub>h${tm.gate}</sub>h<sub>t−1</sub>`;
  const below = state.layer === 0 ? "x (normalised pixel)" : `h<sub>t</sub> of layer ${state.layer - 1}`;
  const inputName = tm.kind === "x" ? below : "h<sub>t−1</sub>";
  const rows = top.map((d) => {
    const w = Math.round((60 * Math.abs(d.product)) / big);
    const pick = d.unit === undefined ? ""
      : ` <button type="button" data-layer="${d.layer}" data-unit="${d.unit}">select</button>`;
    return `<tr><td class="who">${d.who}${pick}</td><td>${fmt(d.input)}</td><td>${fmt(d.weight)}</td>` +
      `<td>${fmt(d.product)}</td><td style="text-align:left"><span class="bar ${d.product >= 0 ? "pos" : "neg"}" ` +
      `style="width:${w}px"></span></td></tr>`;
  }).join("");
  const nothing = tm.kind === "h" && state.t === 0 ? "<p>At t = 0, h<sub>−1</sub> = 0: this term is 0.</p>" : "";
  const outlined = tm.kind === "x" && state.layer === 0 ? " The digit outlines them: blue pushes up, orange down." : "";
  box.innerHTML =
    `<h2>What drove ${sym} = ${fmt(total)} ` +
    `(${tm.model}, layer ${state.layer}, unit ${state.unit}, t = ${state.t})</h2>` +
    `<p class="caption">The ${top.length} largest of its ${all.length} products w · input. Together they give ` +
    `${fmt(topSum)}; the other ${all.length - top.length} give ${fmt(total - topSum)}.${outlined}</p>${nothing}` +
    `<table><tr><th style="text-align:left">input</th><th>${inputName}</th><th>weight w</th><th>w · input</th>` +
    `<th></th></tr>${rows}</table><p><button type="button" id="drivers-close">close</button></p>`;
  box.hidden = false;
  box.querySelectorAll("button[data-unit]").forEach((b) => b.addEventListener("click", () => {
    state.term = null;
    setUnit(Number(b.dataset.layer), Number(b.dataset.unit));
  }));
  $("drivers-close").addEventListener("click", () => {
    state.term = null;
    drawStep();
  });
}
