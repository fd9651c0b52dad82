// lstm.js: the LSTM forward of scratch_lstm/cell.py, written out for the browser.
//
// Reads the weights of the page's data (loadNet) and a digit's 784 pixels (sequenceOf); shows nothing
// itself: every view shows what runClassifier returns.
//
// Notation as in cell.py, for one layer of H units reading I inputs at each step t:
//   x_t (I), h_{t-1} (H), c_{t-1} (H)
//   W_ih (4H, I), W_hh (4H, H): the four gates' rows stacked as [W_i.; W_f.; W_g.; W_o.],
//   b_ih, b_hh (4H), stacked the same way: row q*H + j belongs to gate q (0 i, 1 f, 2 g, 3 o), unit j.
// The weights are the model's float32 numbers; the arithmetic is float64 (JavaScript's numbers), so the
// gates equal PyTorch's float32 forward to about 1e-6 and its float64 forward to rounding.
//
// A clamp holds a gate at a value after the gate is computed, so c_t and h_t follow from the held value
// (what scratch_lstm.GateClamp means); a clamp of h holds the unit's output h_t. Which values a clamp holds
// at step t is heldValues (clamps.js: a clamp may hold some steps only).
// Defines sigmoid, runClassifier, loadNet, matrixOf, sequenceOf, float32s, bytesOf; uses heldValues (clamps.js, the
// script after this one: called once the page has loaded). The page's scripts share one scope.
"use strict";

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

/** y = W x, for W (rows, cols) stored row by row. */
function matVec(W, x, rows, cols) {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let k = 0, at = r * cols; k < cols; k++, at++) sum += W[at] * x[k];
    y[r] = sum;
  }
  return y;
}

// ---- one step: the six equations ----------------------------------------------------------------

/** One LSTM step of one layer from x_t, h_{t-1}, c_{t-1}; `held` (or null) holds clamped values. */
function lstmStep(layer, x, hPrev, cPrev, held) {
  const H = layer.H;
  const Wx = matVec(layer.weight_ih, x, 4 * H, layer.I); // (4H) = W_ih x_t     = [W_ii x | W_if x | W_ig x | W_io x]
  const Wh = matVec(layer.weight_hh, hPrev, 4 * H, H); //   (4H) = W_hh h_{t-1} = [W_hi h | W_hf h | W_hg h | W_ho h]
  const z = new Float64Array(4 * H); //                       (4H) = [z_i | z_f | z_g | z_o]
  for (let r = 0; r < 4 * H; r++) z[r] = Wx[r] + Wh[r] + layer.bias_ih[r] + layer.bias_hh[r];
  const step = { Wx, Wh, z, i: new Float64Array(H), f: new Float64Array(H), g: new Float64Array(H),
    o: new Float64Array(H), c: new Float64Array(H), h: new Float64Array(H) };
  for (let j = 0; j < H; j++) {
    let i = sigmoid(z[j]); //            i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    let f = sigmoid(z[H + j]); //        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    let g = Math.tanh(z[2 * H + j]); //  g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    let o = sigmoid(z[3 * H + j]); //    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    if (held) { //                       a clamped gate is held at its value once computed
      i = held.i[j] ?? i;
      f = held.f[j] ?? f;
      g = held.g[j] ?? g;
      o = held.o[j] ?? o;
    }
    const c = f * cPrev[j] + i * g; //   c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    let h = o * Math.tanh(c); //         h_t = o_t ⊙ tanh(c_t)
    if (held) h = held.h[j] ?? h; //     a clamp of h holds the unit's output
    step.i[j] = i; step.f[j] = f; step.g[j] = g; step.o[j] = o; step.c[j] = c; step.h[j] = h;
  }
  return step;
}

// ---- the classifier: the layers over time, then the head --------------------------------------------

/** The classifier on one sequence xs (T*I numbers, step after step) from zero states.
 *  Returns, per layer, every quantity at every step as flat (T*H) arrays (Wx, Wh and z: (T*4H)),
 *  and the head's logits after every step (T*C): the last step's are the classifier's answer,
 *  the earlier ones a probe (the head was trained on the last step only). */
function runClassifier(net, xs, clamps) {
  const T = xs.length / net.layers[0].I;
  const layers = [];
  let input = xs; // (T*I): what layer k reads at every step
  net.layers.forEach((layer, k) => {
    const H = layer.H;
    const timed = (clamps || []).some((cl) => cl.steps);
    const always = timed ? null : heldValues(clamps, k, H, 0); // the same at every step: computed once
    const trace = { H };
    for (const q of ["i", "f", "g", "o", "c", "h"]) trace[q] = new Float64Array(T * H);
    for (const q of ["Wx", "Wh", "z"]) trace[q] = new Float64Array(T * 4 * H);
    let h = new Float64Array(H); // h_0 = 0
    let c = new Float64Array(H); // c_0 = 0
    for (let t = 0; t < T; t++) {
      const x = input.subarray(t * layer.I, (t + 1) * layer.I);
      const step = lstmStep(layer, x, h, c, timed ? heldValues(clamps, k, H, t) : always);
      for (const q of ["i", "f", "g", "o", "c", "h"]) trace[q].set(step[q], t * H);
      for (const q of ["Wx", "Wh", "z"]) trace[q].set(step[q], t * 4 * H);
      h = step.h;
      c = step.c;
    }
    layers.push(trace);
    input = trace.h; // (T*H): the next layer reads this layer's h_t
  });
  const top = layers[layers.length - 1].h;
  const H = net.layers[net.layers.length - 1].H;
  const C = net.lin_bias.length;
  const logits = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    const y = matVec(net.lin_weight, top.subarray(t * H, (t + 1) * H), C, H); // logits = W h_t + b
    for (let k = 0; k < C; k++) logits[t * C + k] = y[k] + net.lin_bias[k];
  }
  return { T, C, layers, logits, probs: softmaxRows(logits, C) };
}

/** softmax of each row of C numbers. */
function softmaxRows(logits, C) {
  const probs = new Float64Array(logits.length);
  for (let at = 0; at < logits.length; at += C) {
    let max = -Infinity;
    for (let k = 0; k < C; k++) max = Math.max(max, logits[at + k]);
    let sum = 0;
    for (let k = 0; k < C; k++) sum += (probs[at + k] = Math.exp(logits[at + k] - max));
    for (let k = 0; k < C; k++) probs[at + k] /= sum;
  }
  return probs;
}

// ---- what the model reads --------------------------------------------------------------------------

/** The float32 numbers of a base64 string (little-endian, as the page stores them). */
function float32s(base64) {
  const bytes = bytesOf(base64);
  return new Float32Array(bytes.buffer, 0, bytes.length / 4);
}

/** The bytes of a base64 string. */
function bytesOf(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
  return bytes;
}

/** A model's weights from the page's data: the layers (weight_ih, weight_hh, bias_ih, bias_hh as
 *  torch names them) and the head (lin_weight, lin_bias). */
function loadNet(weights, model) {
  const layers = weights.layers.map((w, k) => ({
    I: k === 0 ? model.input_size : model.hidden_size, H: model.hidden_size,
    weight_ih: matrixOf(w.weight_ih), weight_hh: matrixOf(w.weight_hh),
    bias_ih: float32s(w.bias_ih), bias_hh: float32s(w.bias_hh),
  }));
  return { layers, lin_weight: matrixOf(weights.lin_weight), lin_bias: float32s(weights.lin_bias) };
}

/** A weight matrix as the page carries it: float32 (base64), or 8 bits a value (an epoch's snapshot:
 *  {int8, scale}, each row r stored as whole numbers q in -127..127 and one scale s_r; w = float32(q s_r)). */
function matrixOf(w) {
  if (typeof w === "string") return float32s(w);
  const q = new Int8Array(bytesOf(w.int8).buffer);
  const s = float32s(w.scale);
  const cols = q.length / s.length;
  const out = new Float32Array(q.length); // q s_r is exact in float64; storing it rounds once, as float32 does
  for (let r = 0; r < s.length; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = q[r * cols + c] * s[r];
  return out;
}

/** The sequence the model reads from 784 pixels (0..255): normalised as in training, then row by row
 *  (28 steps of 28), pixel by pixel (784 steps of 1) or in the permuted pixel order. */
function sequenceOf(pixels, model) {
  const x = Float64Array.from(pixels, (p) => (p / 255 - model.mean) / model.std);
  if (model.sequence === "permuted") return Float64Array.from(model.permutation, (p) => x[p]);
  return x; // rows: step t holds pixels 28t .. 28t+27; pixels: step t holds pixel t
}
