// view_drawing.js: the dialog to draw a digit, and how a drawing becomes MNIST's 28 x 28 pixels (the ink's
// box into 20 x 20, centred by its centre of mass as far as the box stays inside).
//
// Reads the drawing canvas; writes the drawn digit (16 grey levels, as the hash carries it).
"use strict";

// ---- drawing a digit ---------------------------------------------------------------------------------------

/** The drawing as MNIST prepares its digits: the ink's bounding box scaled into 20 x 20 pixels, placed in
 *  28 x 28 with its centre of mass in the middle, as far as the box stays inside (so a top-heavy T keeps
 *  every row). Returns {pixels} (784 of them), or {error} for an empty canvas or a mark too small to be a digit. */
function mnistPixels(canvas) {
  const { width: W, height: Hc } = canvas;
  const ink = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, W, Hc).data;
  let [x0, y0, x1, y1] = [W, Hc, -1, -1];
  for (let y = 0; y < Hc; y++) {
    for (let x = 0; x < W; x++) {
      if (ink[4 * (y * W + x)] <= 20) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  if (x1 < 0) return { error: "Nothing is drawn yet: draw a digit in the square, then read it." };
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  if (side < W / 8) {
    return { error: `That mark is ${side} pixels across, too small to be read as a digit (it would be blown up ` +
      `to fill the frame): draw the digit across most of the square.` };
  }
  const s = 20 / side;
  const small = document.createElement("canvas");
  small.width = 28;
  small.height = 28;
  const ctx = small.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  const [w, h] = [(x1 - x0 + 1) * s, (y1 - y0 + 1) * s];
  ctx.drawImage(canvas, x0, y0, x1 - x0 + 1, y1 - y0 + 1, (28 - w) / 2, (28 - h) / 2, w, h);
  const px = ctx.getImageData(0, 0, 28, 28).data;
  let [mass, mx, my] = [0, 0, 0];
  let [r0, c0, r1, c1] = [28, 28, -1, -1]; // the scaled ink's rows and columns
  for (let p = 0; p < 784; p++) {
    const [r, c] = [Math.floor(p / 28), p % 28];
    mass += px[4 * p];
    mx += px[4 * p] * c;
    my += px[4 * p] * r;
    if (px[4 * p] > 0) [r0, c0, r1, c1] = [Math.min(r0, r), Math.min(c0, c), Math.max(r1, r), Math.max(c1, c)];
  }
  const within = (d, lo, hi) => Math.max(-lo, Math.min(27 - hi, d)); // a shift that keeps rows lo..hi inside
  const dx = within(Math.round(13.5 - mx / mass), c0, c1);
  const dy = within(Math.round(13.5 - my / mass), r0, r1);
  const pixels = new Uint8Array(784);
  for (let p = 0; p < 784; p++) {
    const [r, c] = [Math.floor(p / 28) - dy, (p % 28) - dx];
    if (r >= 0 && r < 28 && c >= 0 && c < 28) pixels[p] = px[4 * (r * 28 + c)];
  }
  return { pixels };
}

function setupDrawing() {
  const cv = $("draw");
  const ctx = cv.getContext("2d", { willReadFrequently: true }); // read back at every "read it"
  const clear = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, cv.width, cv.height);
    $("draw-note").textContent = "";
  };
  clear();
  let last = null;
  const at = (e) => [(e.offsetX * cv.width) / cv.clientWidth, (e.offsetY * cv.height) / cv.clientHeight];
  const stroke = (from, to) => {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 22;
    ctx.lineCap = "round";
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
  };
  cv.addEventListener("pointerdown", (e) => {
    last = at(e);
    ctx.fillStyle = "#fff"; // a tap leaves a dot, as wide as a stroke
    ctx.beginPath();
    ctx.arc(...last, 11, 0, 2 * Math.PI);
    ctx.fill();
    cv.setPointerCapture(e.pointerId);
  });
  cv.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e);
    stroke(last, p);
    last = p;
  });
  cv.addEventListener("pointerup", () => { last = null; });
  $("draw-clear").addEventListener("click", clear);
  $("draw-close").addEventListener("click", () => $("draw-dialog").close());
  $("draw-open").addEventListener("click", () => {
    $("draw-note").textContent = "";
    $("draw-dialog").showModal();
  });
  $("draw-use").addEventListener("click", () => {
    const { pixels, error } = mnistPixels(cv);
    $("draw-note").textContent = error ?? "";
    if (!pixels) return;
    $("draw-dialog").close();
    useDrawing(pixels);
    state.t = 0;
    drawStep();
    play(true); // watch it read
  });
}

/** Read a drawing: kept in 16 grey levels, as the hash carries it, so a link shows the same numbers. */
function useDrawing(pixels) {
  drawn = pixels.map((v) => (v >> 4) * 17);
  setDigit("drawn");
}
