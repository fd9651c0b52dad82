// view_tour.js: a guided tour: a few stops, each a question to answer before looking (predict), then a
// link that sets the page to the moment that answers it (the same URL hash as any link), and the answer
// in this model's own numbers (reveal).
//
// Reads the runs (runs.js) after each stop's link is applied, and the embedded digits' labels (D.digits);
// every number it says is computed then, so the tour fits whatever model the page carries.
"use strict";

let tourAt = null; // the stop shown (0-based), or null: the tour closed
let tourRevealed = false;

/** The embedded digit the tour reads: the first labelled 7 (the lecture's), else the first. */
const tourDigit = () => Math.max(0, D.digits.findIndex((d) => d.label === 7));

/** p(cls) after the last step of the trained model, with the clamps (run) or without (base). */
const pEnd = (which, cls) => runs.trained[which].probs[(T - 1) * C + cls];
const readsEnd = (which) => argmax(runs.trained[which].probs, (T - 1) * C, C);

/** The stops: title, the question (before), the hash of the moment to try, the answer (after). */
function tourStops() {
  const n = tourDigit();
  const label = D.digits[n].label;
  const last = K - 1;
  const longest = () => longestMemory(n);
  const mid = Math.min(T - 1, Math.round((15 / 28) * T)); // row 15 of 28, or the same share of the steps
  return [
    { title: "The answer forming",
      ask: () => `The model reads the ${label} one step at a time. Predict: after which step does the trained ` +
        `model's probability of ${label} pass 0.5? Then press ▶ and watch “The answer forming”.`,
      hash: () => `#digit=${n}&t=0`,
      reveal: () => {
        const p = runs.trained.base.probs;
        let t = 0;
        while (t < T - 1 && p[t * C + label] <= 0.5) t++;
        return `After step ${t}: p(${label}) is ${fmt(p[Math.max(0, t - 1) * C + label], 3)} after step ` +
          `${Math.max(0, t - 1)} and ${fmt(p[t * C + label], 3)} after step ${t}. Until the strokes that tell ` +
          `a ${label} from the others are read, the answer is open.`;
      } },
    { title: "A long memory",
      ask: () => {
        const u = longest();
        return `Unit ${u.unit} of layer ${u.layer} keeps its cell longest on this digit (${u.why}). Predict: ` +
          `if its forget gate is closed at step ${mid} only (f = 0: its cell forgets everything once), how ` +
          `much does the answer change?`;
      },
      hash: () => {
        const u = longest();
        return `#digit=${n}&t=${mid}&layer=${u.layer}&unit=${u.unit}&clamps=f=0@${u.layer}:${u.unit}/${mid}`;
      },
      reveal: () => `p(${label}) at the end goes from ${fmt(pEnd("base", label), 4)} to ` +
        `${fmt(pEnd("run", label), 4)}: one unit's memory, erased once, and its c starts again from i·g ` +
        `(see the equations: f·c_{t−1} is 0 at step ${mid}). One unit is rarely the whole answer.` },
    { title: "Erase every memory at one step",
      ask: () => `Now close every forget gate of every layer at step ${mid} only. Predict: does the model ` +
        `still read the ${label}?`,
      hash: () => `#digit=${n}&t=${T - 1}&clamps=f=0/${mid}`,
      reveal: () => `It reads ${readsEnd("run")} (p ${fmt(pEnd("run", readsEnd("run")), 3)}; ${label} was ` +
        `${fmt(pEnd("base", label), 3)} without the clamp). What came before step ${mid} now reaches the end ` +
        "only through h, not through the cells: the memory the forget gate keeps is what was lost." },
    { title: "No forget gate at all",
      ask: () => "Hold f = 1 everywhere: the cell of 1997, which never forgets, on the trained weights. " +
        "Predict: what does the trained model read?",
      hash: () => `#digit=${n}&t=${T - 1}&clamps=f=1`,
      reveal: () => `It reads ${readsEnd("run")} (p ${fmt(pEnd("run", readsEnd("run")), 3)}); without the ` +
        `clamp, ${readsEnd("base")}. The weights were trained with a forget gate that closes: held open, ` +
        "every cell keeps all it ever wrote, which the weights never learned to read." },
    { title: "Trained gates saturate",
      ask: () => "Look at Saturation. Predict: whose gates sit near 0 or 1 on more steps, the trained " +
        "model's or the fresh one's?",
      hash: () => `#digit=${n}&t=${T - 1}&layer=0`,
      reveal: () => {
        const share = (m) => {
          let s = 0;
          for (let k = 0; k < K; k++) {
            for (const q of ["i", "f", "o"]) {
              const { below, above } = saturationShares(m, k, q);
              for (let j = 0; j < H; j++) s += (below[j] + above[j]) / (3 * H * K);
            }
          }
          return `${fmt(100 * s, 0)}%`;
        };
        return `The trained model's: ${share("trained")} of its gate values are below ${D.saturation[0]} or ` +
          `above ${D.saturation[1]}, the fresh one's ${share("fresh")}. Training makes gates into switches.`;
      } },
    { title: "What the answer depends on",
      ask: () => `Predict: which rows of the ${label} move p(${label}) most at the end? Then look at “What ` +
        "the answer depends on”.",
      hash: () => `#digit=${n}&t=${T - 1}&layer=${last}`,
      reveal: () => {
        const s = saliencyOf(nets.trained, pixelsOf(n), M, [], readsEnd("base"), T - 1);
        const rows = [...Array(28).keys()].map((r) => ({ r, v: s.slice(28 * r, 28 * r + 28)
          .reduce((a, b) => a + Math.abs(b), 0) })).sort((a, b) => b.v - a.v).slice(0, 3).map((x) => x.r);
        return `Rows ${rows.sort((a, b) => a - b).join(", ")} (the largest sums of |d p / d pixel|). ` +
          "The units below the map are the answer's drivers: click one to see its gates.";
      } },
  ];
}

/** The unit of the trained model with the highest mean f over digit n, without clamps: {layer, unit, why}. */
function longestMemory(n) {
  const run = baseRun("trained", n);
  let best = null;
  run.layers.forEach((L, k) => {
    for (let j = 0; j < H; j++) {
      let mean = 0;
      for (let t = 0; t < T; t++) mean += L.f[t * H + j] / T;
      if (!best || mean > best.mean) best = { layer: k, unit: j, mean, why: `mean f ${fmt(mean, 3)}` };
    }
  });
  return best;
}

function drawTour() {
  const box = $("tour-body");
  if (tourAt === null) {
    box.hidden = true;
    $("tour-start").textContent = "take the tour";
    return;
  }
  const stops = tourStops();
  const stop = stops[tourAt];
  box.hidden = false;
  $("tour-start").textContent = "close the tour";
  box.innerHTML = `<p><b>${tourAt + 1} of ${stops.length}: ${stop.title}.</b> ${escapeHtml(stop.ask())}</p>` +
    `<p><button type="button" id="tour-try" data-testid="tour-try">try it</button> ` +
    `<a href="${stop.hash()}" data-testid="tour-link">its link</a></p>` +
    `<p class="tour-answer" data-testid="tour-answer"${tourRevealed ? "" : " hidden"}>` +
    `${tourRevealed ? escapeHtml(stop.reveal()) : ""}</p>` +
    `<p><button type="button" id="tour-prev"${tourAt === 0 ? " disabled" : ""}>◀ back</button> ` +
    `<button type="button" id="tour-next" data-testid="tour-next"${tourAt === stops.length - 1 ? " disabled" : ""}>` +
    "next ▶</button></p>";
  $("tour-try").addEventListener("click", () => {
    applyHash(stop.hash());
    saveHash();
    tourRevealed = true;
    drawTour();
  });
  $("tour-prev").addEventListener("click", () => goTour(tourAt - 1));
  $("tour-next").addEventListener("click", () => goTour(tourAt + 1));
}

function goTour(at) {
  tourAt = at;
  tourRevealed = false;
  drawTour();
}
