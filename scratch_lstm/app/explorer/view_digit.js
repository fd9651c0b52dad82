// view_digit.js: the header (which model, which run), the row of digits to choose from, and the digit
// being read with the row (or pixel) read at step t outlined.
//
// Reads the page's data (D.model: the run's record; D.made), the digits' pixels and the state.
"use strict";

// ---- the header -------------------------------------------------------------------------------------

function drawHeader() {
  const what = { rows: `rows (${T} steps of ${M.input_size} pixels)`, pixels: `pixels (${T} steps of one pixel)`,
    permuted: `pixels in a fixed shuffled order (${T} steps of one pixel)` }[M.sequence];
  const on = M.trained_on ? ` on ${M.trained_on}` : "";
  const acc = M.test_acc === null ? "" : `, ${(100 * M.test_acc).toFixed(2)}% test accuracy`;
  const epochs = M.epoch ? ` after ${M.epoch} epoch${M.epoch === 1 ? "" : "s"}${on}` : on;
  const gpu = M.fresh_drawn_on_gpu ? " The run drew its start on a GPU; this is the same seed and init drawn on " +
    "the CPU (the same distribution, other numbers)." : "";
  $("model-line").innerHTML = `<span class="trained-text">Trained</span>: a ${K}-layer LSTM of ${H} units ` +
    `(${M.input_size} inputs), reading ${M.dataset} ${M.dataset === "fashion-mnist" ? "images" : "digits"} ` +
    `as ${what}: ${escapeHtml(M.checkpoint)}${epochs}${acc}. ` +
    `<span class="fresh-text">Fresh</span>: the same run before training (seed ${M.seed}, ` +
    `init ${escapeHtml(M.init)}).${gpu}`;
  $("made-line").textContent = `Made by ${D.made.by} on ${D.made.date}. No network: everything is in this file.`;
}

function escapeHtml(s) {
  const entity = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  return String(s).replace(/[&<>"']/g, (c) => entity[c]);
}

// ---- digits: the list, and the digit being read ----------------------------------------------------

/** The step at which each of the 784 pixels is read. */
let stepOfPixel;

function drawDigitList() {
  const list = $("digit-list");
  list.innerHTML = "";
  const entries = D.digits.map((d, n) => [n, d.label, `${d.source}, label ${d.label}`]);
  if (drawn) entries.push(["drawn", "✎", "your drawing"]);
  for (const [n, label, title] of entries) {
    const b = el("button", { type: "button", class: "thumb", role: "radio", title, "data-testid": `digit-${n}`,
      "aria-checked": String(state.digit === n), "aria-label": title, "data-digit": String(n),
      tabindex: state.digit === n ? "0" : "-1" }); // one tab stop for the group; the arrows move within it
    const cv = el("canvas", { width: 28, height: 28 });
    paintPixels(cv.getContext("2d"), pixelsOf(n), 1, null);
    b.append(cv, el("span", {}, String(label)));
    b.addEventListener("click", () => setDigit(n));
    list.append(b);
  }
}

/** Paint 784 pixels as dark ink on white, `scale` canvas pixels each; pixels read after step t (if given) faded. */
function paintPixels(ctx, pixels, scale, t) {
  const img = ctx.createImageData(28 * scale, 28 * scale);
  for (let p = 0; p < 784; p++) {
    const faded = t !== null && stepOfPixel[p] > t;
    const ink = pixels[p] * (faded ? 0.22 : 1);
    const v = Math.round(255 - ink);
    const [r0, c0] = [Math.floor(p / 28) * scale, (p % 28) * scale];
    for (let dr = 0; dr < scale; dr++) {
      for (let dc = 0; dc < scale; dc++) {
        const at = 4 * ((r0 + dr) * 28 * scale + c0 + dc);
        img.data[at] = v;
        img.data[at + 1] = v;
        img.data[at + 2] = faded ? 255 - ink * 0.9 : v; // faded rows: a faint blue-grey, read rows: black
        img.data[at + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

function drawDigit() {
  const ctx = $("digit").getContext("2d");
  const s = 8;
  paintPixels(ctx, pixelsOf(state.digit), s, state.t);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#cc79a7";
  const read = pixelsReadAt(state.t);
  if (M.sequence === "rows") ctx.strokeRect(1, state.t * s + 1, 28 * s - 2, s - 2);
  else for (const p of read) ctx.strokeRect((p % 28) * s + 1, Math.floor(p / 28) * s + 1, s - 2, s - 2);
  for (const d of highlightedPixels()) { // the strongest inputs of a clicked W x term
    ctx.strokeStyle = d.positive ? "#0072b2" : "#d55e00";
    ctx.strokeRect((d.pixel % 28) * s + 2.5, Math.floor(d.pixel / 28) * s + 2.5, s - 5, s - 5);
  }
  const d = D.digits[state.digit];
  $("digit-caption").textContent = state.digit === "drawn" ? "your drawing" : `${d.source}, label ${d.label}`;
}

/** The pixels read at step t. */
function pixelsReadAt(t) {
  if (M.sequence === "rows") return [...Array(28).keys()].map((c) => 28 * t + c);
  return [M.sequence === "permuted" ? M.permutation[t] : t];
}

function drawTimeLabel() {
  const where = M.sequence === "rows" ? `row ${state.t}` : (() => {
    const p = pixelsReadAt(state.t)[0];
    return `pixel (${Math.floor(p / 28)}, ${p % 28})`;
  })();
  $("t-label").textContent = `t = ${state.t} of 0…${T - 1}: reading ${where}`;
  $("slider").value = String(state.t);
}
