// view_clamps.js: the clamps held (a list that says which wins where two overlap) and the form that adds
// one, from its fields or typed as `scratch-lstm eval --clamp` takes it.
//
// Reads and writes state.clamps; reads a clamp's text with clamps.js (the page's copy of GateClamp's rules).
"use strict";

// ---- clamps --------------------------------------------------------------------------------------------

function drawClamps() {
  const list = $("clamp-list");
  list.innerHTML = "";
  const conflicts = conflictsOf(state.clamps);
  state.clamps.forEach((cl, n) => {
    const where = `${cl.layer === null ? "every layer" : `layer ${cl.layer}`}, ${cl.units === null ? "every unit"
      : `unit${cl.units.length > 1 ? "s" : ""} ${cl.units.join(", ")}`}`;
    const when = !cl.steps ? "every step"
      : cl.steps[0] === cl.steps[1] ? `step ${cl.steps[0]}` : `steps ${cl.steps[0]}…${cl.steps[1]}`;
    const what = cl.gate === "h" ? `h held at ${cl.value} (the unit's output)` : `${cl.gate} held at ${cl.value}`;
    const lost = conflicts.find((c) => c.n === n);
    const won = conflicts.filter((c) => c.over.includes(n)).map((c) => c.n + 1);
    const notes = [];
    if (lost) notes.push(`overridden by ${lost.over.map((m) => m + 1).join(", ")} where they overlap`);
    if (won.length) notes.push(`wins over ${won.join(", ")} where they overlap: the later clamp wins`);
    const li = el("li", { "data-testid": `clamp-${n}` }, `<span>${n + 1}. ${what} · ${where} · ${when} ` +
      `<code>${clampText(cl)}</code>${notes.length ? `<br><span class="wins">${notes.join("; ")}</span>` : ""}</span>`);
    const x = el("button", { type: "button", "aria-label": `remove: ${what}, ${where}, ${when}` }, "×");
    x.addEventListener("click", () => setClamps(state.clamps.filter((_, k) => k !== n)));
    li.append(x);
    list.append(li);
  });
  if (!state.clamps.length) list.append(el("li", { class: "none" }, "no gate is held"));
}

/** Add a clamp from its text (the form's, or typed as eval --clamp takes it); say why if it cannot be. */
function addClampText(text) {
  const { clamp, error } = parseClampText(text.trim(), D.clamp_rules, K, H);
  $("clamp-note").textContent = error ? `Not held: ${error}.` : "";
  if (!clamp) return false;
  setClamps([...state.clamps.filter((c) => clampText(c) !== clampText(clamp)), clamp]);
  return true;
}

function addClampFromForm() {
  const gate = $("clamp-gate").value;
  const scope = $("clamp-scope").value;
  const when = $("clamp-when").value;
  const steps = { all: "", t: `/${state.t}`, from: `/${state.t}-${T - 1}` }[when];
  const text = `${gate}=${$("clamp-value").value}${scope === "all" ? "" : `@${state.layer}`}` +
    `${scope === "unit" ? `:${state.unit}` : ""}${steps}`;
  addClampText(text);
}
