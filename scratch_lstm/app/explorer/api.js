// api.js: window.explorer, the page's small API for the tests and the curious: the state, the numbers
// shown, the forward and the backward on any digit, with clamps.
//
// Reads everything the other scripts keep (the state, the runs, the weights); shows nothing itself.
"use strict";

// ---- window.explorer: the state, the numbers shown, the forward (for tests and the curious) ------------------------

function float64Base64(arrays) {
  const n = arrays.reduce((s, a) => s + a.length, 0);
  const all = new Float64Array(n);
  let at = 0;
  for (const a of arrays) {
    all.set(a, at);
    at += a.length;
  }
  const bytes = new Uint8Array(all.buffer);
  let text = "";
  for (let k = 0; k < bytes.length; k += 0x8000) text += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
  return btoa(text);
}

window.explorer = {
  ready: false,
  check: null,
  /** The state: digit, t, layer, unit, heat (the overview's model), sort, clamps, term, epoch. */
  state: () => JSON.parse(JSON.stringify(state)),
  /** Change the state as a user would (any of the keys of state(); an epoch the slider has, or null for the
   *  checkpoint's own); redraws. */
  set(change) {
    const data = "digit" in change || "clamps" in change || "epoch" in change;
    if (change.clamps) change = { ...change, clamps: change.clamps.map((cl) => ({ steps: null, ...cl })) };
    Object.assign(state, change);
    if ("epoch" in change) useEpoch(change.epoch);
    if (data) recompute();
    drawAll();
  },
  /** The text shown by the element with this data-testid. */
  text: (testid) => document.querySelector(`[data-testid="${testid}"]`)?.textContent ?? null,
  /** The forward of model m on embedded digit n with clamps ({gate, value, layer, units}), as base64 of float64s:
   *  per layer i, f, g, o, c, h (each T*H, step after step), then the logits (T*C). */
  trace(m, n, clamps = []) {
    const run = runClassifier(nets[m], sequenceOf(pixelsOf(n), M), clamps);
    return float64Base64([...run.layers.flatMap((L) => QUANTITIES.map((q) => L[q])), run.logits]);
  },
  /** d p(cls after step tau) / d pixel (784 float64s, base64) of model m on digit n (an embedded index or
   *  "drawn") with clamps ({gate, value, layer, units, steps}): the page's backward (lstm_backward.js). */
  saliency(m, n, cls, tau, clamps = []) {
    clamps = clamps.map((cl) => ({ steps: null, ...cl }));
    return float64Base64([saliencyOf(nets[m], pixelsOf(n), M, clamps, cls, tau)]);
  },
  /** The answer's drivers of model m on digit n: [{unit, share}], share = W_lin[cls, j] h_T[j], largest first. */
  answerDrivers(m, n, cls, clamps = []) {
    clamps = clamps.map((cl) => ({ steps: null, ...cl }));
    return answerDrivers(nets[m], runClassifier(nets[m], sequenceOf(pixelsOf(n), M), clamps), cls);
  },
  /** Read a drawn digit (784 pixels, 0..255). */
  draw: (pixels) => useDrawing(Uint8Array.from(pixels)),
  /** The drawn digit's 784 pixels as the page reads them (null if none). */
  drawn: () => (drawn ? Array.from(drawn) : null),
  /** Whether the page is playing (stepping t on its own). */
  playing: () => player !== null,
  /** The trained model's answers (the class of the largest logit at the last step) for images given as base64
   *  of N x 784 bytes, with clamps given as text (as eval --clamp takes them). */
  classify(pixels, clampTexts = []) {
    const clamps = clampTexts.map((text) => {
      const { clamp, error } = parseClampText(text, D.clamp_rules, K, H);
      if (error) throw new Error(error);
      return clamp;
    });
    const all = bytesOf(pixels);
    const answers = [];
    for (let at = 0; at < all.length; at += 784) {
      const run = runClassifier(nets.trained, sequenceOf(all.subarray(at, at + 784), M), clamps);
      answers.push(argmax(run.logits, (T - 1) * C, C));
    }
    return answers;
  },
  /** The clamp rules the page carries and a clamp's text read by them: {clamp} or {error} (as clamps.js). */
  parseClamp: (text) => parseClampText(text, D.clamp_rules, K, H),
  hash: hashOf,
  /** Milliseconds per forward of model m on digit n (the mean of `repeats`). */
  timeForward(m = "trained", n = 0, repeats = 3) {
    const x = sequenceOf(pixelsOf(n), M);
    const start = performance.now();
    for (let r = 0; r < repeats; r++) runClassifier(nets[m], x, []);
    return (performance.now() - start) / repeats;
  },
  /** Milliseconds per step of the slider: the redraw and the layout it forces (the mean over all steps). */
  timeSteps() {
    const start = performance.now();
    for (let t = 0; t < T; t++) {
      setT(t === state.t ? (t + 1) % T : t);
      void document.body.offsetHeight; // the layout the browser would do before painting
    }
    return (performance.now() - start) / T;
  },
};
