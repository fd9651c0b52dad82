// lstm_backward.js: what the answer depends on: the gradient of one class's probability with respect to
// every input pixel, by backpropagation through time through the same equations lstm.js runs forward.
//
// Shows nothing itself; the saliency view paints what saliencyOf returns.
// Reads a forward run of runClassifier (lstm.js: every gate and state of every layer at every step, with
// the clamps held) and the weights (loadNet). A held gate (or h) is a constant of the run: no gradient
// passes through it, as in PyTorch with scratch_lstm.GateClamp. The arithmetic is float64; the tests hold it
// to PyTorch's autograd on the same weights.
//
// Forward, per layer and step (lstm.js):   z = W_ih x_t + W_hh h_{t-1} + b
//   i = σ(z_i)  f = σ(z_f)  g = tanh(z_g)  o = σ(z_o)   c_t = f c_{t-1} + i g   h_t = o tanh(c_t)
// Backward, from dh_t (from the head or the layer above) and dc_t (from step t + 1), as cell.py's
// autograd computes it and fused.py writes it out:
//   do = dh_t tanh(c_t)              dc_t += dh_t o (1 - tanh²(c_t))
//   di = dc_t g   dg = dc_t i   df = dc_t c_{t-1}   dc_{t-1} = dc_t f
//   dz_i = di i (1 - i)   dz_f = df f (1 - f)   dz_g = dg (1 - g²)   dz_o = do o (1 - o)
//   dx_t = W_ihᵀ dz        dh_{t-1} += W_hhᵀ dz
// Defines saliencyOf and answerDrivers.
"use strict";

/** yᵀ = xᵀ W: W (rows, cols) stored row by row, x (rows); y (cols) is added into `into`. */
function addVecMat(into, x, W, rows, cols) {
  for (let r = 0; r < rows; r++) {
    const v = x[r];
    if (v === 0) continue;
    for (let k = 0, at = r * cols; k < cols; k++, at++) into[k] += v * W[at];
  }
}

/** d p(cls at step tau) / d x for the sequence xs the run read: (T*I) numbers, step after step.
 *  `run` is runClassifier(net, xs, clamps); the clamps are given again to know which values were held. */
function inputGradient(net, run, clamps, cls, tau) {
  const { T, C } = run;
  const K = net.layers.length;
  const p = run.probs.subarray(tau * C, (tau + 1) * C);
  const dlogits = Float64Array.from(p, (pk, k) => p[cls] * ((k === cls ? 1 : 0) - pk)); // dp_c/dlogit_k
  const top = net.layers[K - 1];
  let dhs = new Float64Array(T * top.H); // (T*H): dL/dh_t of the layer being undone, from above
  addVecMat(dhs.subarray(tau * top.H, (tau + 1) * top.H), dlogits, net.lin_weight, C, top.H); // W_linᵀ dlogits
  for (let k = K - 1; k >= 0; k--) {
    const layer = net.layers[k];
    const L = run.layers[k];
    const H = layer.H;
    const dxs = new Float64Array(T * layer.I); // what flows to the layer below (or to the pixels)
    let dc = new Float64Array(H); // dL/dc_t carried from step t + 1
    let dhNext = new Float64Array(H); // dL/dh_t carried from step t + 1 through W_hh
    for (let t = tau; t >= 0; t--) {
      const held = heldValues(clamps, k, H, t);
      const dz = new Float64Array(4 * H); // (4H) = [dz_i | dz_f | dz_g | dz_o]
      const dcPrev = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        const at = t * H + j;
        const [i, f, g, o, c] = [L.i[at], L.f[at], L.g[at], L.o[at], L.c[at]];
        const cPrev = t > 0 ? L.c[at - H] : 0;
        const dh = held && held.h[j] !== null ? 0 : dhs[at] + dhNext[j]; // a held h passes nothing back
        const tc = Math.tanh(c);
        const dct = dc[j] + dh * o * (1 - tc * tc); //                 dc_t += dh_t o (1 - tanh²(c_t))
        const free = (q) => !held || held[q][j] === null; //           a held gate is a constant
        dz[j] = free("i") ? dct * g * i * (1 - i) : 0; //              dz_i = dc_t g i (1 - i)
        dz[H + j] = free("f") ? dct * cPrev * f * (1 - f) : 0; //      dz_f = dc_t c_{t-1} f (1 - f)
        dz[2 * H + j] = free("g") ? dct * i * (1 - g * g) : 0; //      dz_g = dc_t i (1 - g²)
        dz[3 * H + j] = free("o") ? dh * tc * o * (1 - o) : 0; //      dz_o = dh_t tanh(c_t) o (1 - o)
        dcPrev[j] = dct * f; //                                       dc_{t-1} = dc_t f
      }
      addVecMat(dxs.subarray(t * layer.I, (t + 1) * layer.I), dz, layer.weight_ih, 4 * H, layer.I); // W_ihᵀ dz
      dhNext = new Float64Array(H);
      addVecMat(dhNext, dz, layer.weight_hh, 4 * H, H); //                                          W_hhᵀ dz
      dc = dcPrev;
    }
    dhs = dxs;
  }
  return dhs; // (T*I): d p / d x_t
}

/** d p(cls after step tau) / d pixel, for the 784 pixels (0..255) the model read in model's order
 *  (sequenceOf: normalised, then rows, pixels or the permuted order). */
function saliencyOf(net, pixels, model, clamps, cls, tau) {
  const xs = sequenceOf(pixels, model);
  const run = runClassifier(net, xs, clamps);
  const dx = inputGradient(net, run, clamps, cls, tau);
  const perPixel = 1 / (255 * model.std); // x = (pixel / 255 - mean) / std
  const out = new Float64Array(784);
  for (let k = 0; k < 784; k++) out[model.sequence === "permuted" ? model.permutation[k] : k] = dx[k] * perPixel;
  return out;
}

/** The answer's drivers: each top-layer unit j's share W_lin[cls, j] · h_T[j] of the logit of cls at the last
 *  step (the logit is their sum plus the head's bias), largest |share| first: [{unit, share}]. */
function answerDrivers(net, run, cls) {
  const K = net.layers.length;
  const H = net.layers[K - 1].H;
  const hT = run.layers[K - 1].h.subarray((run.T - 1) * H, run.T * H);
  const shares = [...Array(H).keys()].map((j) => ({ unit: j, share: net.lin_weight[cls * H + j] * hT[j] }));
  return shares.sort((a, b) => Math.abs(b.share) - Math.abs(a.share) || a.unit - b.unit);
}
