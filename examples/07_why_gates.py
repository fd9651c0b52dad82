# %% [markdown]
# # Example 7: why gates
#
# **Teaches:** why the LSTM has a cell state and gates, and why the cell path alone is not
# enough. The plain RNN beside the LSTM on the adding problem at T = 50: three models read 50
# pairs (value, marker) and must answer 0.5 + (x1 + x2)/4 for the two marked values, which lie
# among the first 25 steps. The example measures how much of the loss's gradient reaches each
# step of a fresh model, ||dL/dh_t|| and, for the LSTMs, ||dL/dc_t||, then trains the three with
# the same seed, batches and budget.
#
# **Know first:** example 01 and docs/why-lstm.md (the gradient along the cell path); a PyTorch
# training loop.
#
# **Runs in** about 20 seconds on a CPU with one thread (measured at the end), as a script or as
# a notebook; `--fast` in a few seconds. As a script it writes why_gates.png and why_gates.json
# (every number it prints) into `--out` (default: a new temporary folder, which it names); as a
# notebook it shows the figure below and writes nothing.
#
#     python examples/07_why_gates.py --threads 1
#     python examples/07_why_gates.py --out runs/why-gates --threads 2

# %% [markdown]
# ## Three models, one task
#
# - the plain RNN, h_t = tanh(z_t), z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh: the gradient
#   reaching h_{t-1} is W_hhᵀ (tanh'(z_t) ⊙ dL/dh_t), one such factor per step back
#   (docs/why-lstm.md, section 5, proves that it vanishes or explodes);
# - the LSTM, c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t: along the cell path the gradient is multiplied by
#   f_t only. With torch's draw every forget gate starts near σ(0) = 0.5, and the gradient halves
#   at every step, as fast as the RNN's vanishes;
# - the same LSTM with chrono forget biases (b_f ~ log U(1, T - 1), b_i = -b_f; Tallec and
#   Ollivier 2018): f starts near 1, the cell path is open from the first step.

# %%
import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn


def in_notebook() -> bool:
    """Whether this file runs as a notebook (in a Jupyter kernel, whose argv holds the kernel's own
    arguments, and where no __file__ is set)."""
    return "ipykernel" in sys.modules


# benchmarks/ (the adding problem) sits beside examples/ and notebooks/
here = Path.cwd() if in_notebook() else Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))

from benchmarks.long_memory import ADDING_TOLERANCE, adding_batch  # noqa: E402
from scratch_lstm import LSTM, RNN, init_gates, lstm_step, rnn_step  # noqa: E402
from scratch_lstm.app.flags import threads  # noqa: E402
from scratch_lstm.exercises import (  # noqa: E402
    TORCH_DRAW_CHOICES,
    check_cell_path_bias,
    check_torch_draw,
)

parser = argparse.ArgumentParser(description="the plain RNN beside the LSTM on the adding problem")
parser.add_argument("--out", default=None, help="folder for why_gates.png (default: a new temporary folder)")
parser.add_argument("--threads", type=threads, default=None, help="CPU threads torch may use")
parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
args = parser.parse_args([] if in_notebook() else None)  # a notebook runs with the defaults
if args.threads:
    torch.set_num_threads(args.threads)

T, H, B = 50, 32, 64  # sequence length, hidden units, batch
STEPS = 60 if args.fast else 800  # optimizer steps per model
SEED = 0


class Model(nn.Module):
    """A recurrent layer and a Linear head on its last step's output."""

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn, self.lin = rnn, nn.Linear(H, 1)

    def forward(self, x):
        return self.lin(self.rnn(x)[0][:, -1]).squeeze(1)  # (B,)


def make(kind: str) -> Model:
    torch.manual_seed(SEED)
    rnn = RNN(2, H, batch_first=True) if kind == "rnn" else LSTM(2, H, batch_first=True)
    if kind == "lstm-chrono":
        init_gates(rnn, "chrono", t_max=T, generator=torch.Generator().manual_seed(SEED))
    return Model(rnn)


# %% [markdown]
# ## 1. How much gradient reaches each step, before training
#
# The layer is run step by step with the same step functions the models use, keeping every h_t
# (and c_t) so that autograd can report dL/dh_t and dL/dc_t: the total gradient reaching step t.
# ||dL/dc_t|| is the quantity the argument is about: what travels along the cell path.

# %%

def gradient_per_step(model: Model, x: torch.Tensor, y: torch.Tensor) -> dict:
    rnn, w = model.rnn, model.rnn.direction_weights(0)  # (w_ih, w_hh, b_ih, b_hh, w_hr)
    h = x.new_zeros(x.size(0), H)
    c = x.new_zeros(x.size(0), H)
    hs, cs = [], []
    for t in range(T):
        if isinstance(rnn, RNN):
            h = rnn_step(x[:, t], h, *w[:4])  # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        else:
            step = lstm_step(x[:, t], h, c, *w)  # c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
            h, c = step.h, step.c
            c.retain_grad()
            cs.append(c)
        h.retain_grad()
        hs.append(h)
    loss = ((model.lin(h).squeeze(1) - y) ** 2).mean()
    loss.backward()
    norms = {"h": [v.grad.norm().item() for v in hs]}
    if cs:
        norms["c"] = [v.grad.norm().item() for v in cs]
    model.zero_grad(set_to_none=True)
    return norms


x_probe, y_probe = adding_batch(B, T, torch.Generator().manual_seed(1))
kinds = {"rnn": "plain RNN", "lstm": "LSTM, torch's draw", "lstm-chrono": "LSTM, chrono forget gates"}
flows = {kind: gradient_per_step(make(kind), x_probe, y_probe) for kind in kinds}
BACK = (10, 25, T - 1)  # steps back from the last
reach = {kind: {which: {back: g[T - 1 - back] / g[-1] for back in BACK} for which, g in flows[kind].items()}
         for kind in kinds}  # the norm `back` steps back, relative to the last step's
print(f"||dL/dh_t|| and ||dL/dc_t|| relative to the last step (t = {T - 1}), fresh models, one batch of {B}:")
print(f"  {'steps back':28s}" + "".join(f"{'dh ' + str(back):>11s}{'dc ' + str(back):>11s}" for back in BACK))
for kind, name in kinds.items():
    dh = [f"{reach[kind]['h'][back]:11.1e}" for back in BACK]
    dc = [f"{reach[kind]['c'][back]:11.1e}" if "c" in reach[kind] else f"{'(no cell)':>11s}" for back in BACK]
    print(f"  {name:28s}" + "".join(h + c for h, c in zip(dh, dc)))

# %% [markdown]
# ## 2. The same seed, batches and budget: train the three
#
# Adam with a cosine decay, gradient clipping at 1; a test sequence is solved when the answer is
# within 0.04. Answering 0.5 always solves about one in six.

# %%

x_test, y_test = adding_batch(1000, T, torch.Generator().manual_seed(10**6))
always_half = ((y_test - 0.5).abs() < ADDING_TOLERANCE).double().mean().item()


def train(kind: str) -> list[tuple[int, float]]:
    model = make(kind)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(SEED)  # the same batches for every model
    curve = []
    for step in range(1, STEPS + 1):
        for group in optimizer.param_groups:  # cosine decay to 0 over the run
            group["lr"] = 3e-3 * 0.5 * (1 + math.cos(math.pi * (step - 1) / STEPS))
        x, y = adding_batch(B, T, gen)
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % max(1, STEPS // 16) == 0 or step == STEPS:
            with torch.no_grad():
                solved = ((model(x_test) - y_test).abs() < ADDING_TOLERANCE).double().mean().item()
            curve.append((step, solved))
    return curve


t0 = time.perf_counter()
curves = {kind: train(kind) for kind in kinds}
print(f"trained {STEPS} steps each (batch {B}, Adam 3e-3 cosine, clipping 1) in {time.perf_counter() - t0:.0f} s; "
      f"test sequences solved (within {ADDING_TOLERANCE}); answering 0.5 always solves {100 * always_half:.1f}%:")
for kind in curves:
    print(f"  {kinds[kind]:28s} {100 * curves[kind][-1][1]:.1f}%")

# %% [markdown]
# ## 3. The figure, and every number in one JSON file
#
# What to look for: the RNN's gradient and the LSTM's with torch's draw fall by ten orders of
# magnitude or more over the 49 steps (the LSTM's dL/dc_t with them: its forget gates sit near
# 0.5), and neither model leaves the constant answer's score; the LSTM with chrono forget gates
# keeps its dL/dc_t within one order of magnitude all the way to step 0, and only it learns.

# %%

import matplotlib  # noqa: E402

if not in_notebook():
    matplotlib.use("Agg")  # files only; a notebook shows the figure
import matplotlib.pyplot as plt  # noqa: E402

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
colors = {"rnn": "tab:red", "lstm": "tab:gray", "lstm-chrono": "tab:blue"}
for kind, name in kinds.items():
    back = list(range(T - 1, -1, -1))  # steps back from the last
    left.plot(back, flows[kind]["h"], "-", color=colors[kind], label=f"{name}: ||dL/dh_t||")
    if "c" in flows[kind]:
        left.plot(back, flows[kind]["c"], "--", color=colors[kind], label=f"{name}: ||dL/dc_t||")
left.set(yscale="log", xlabel="steps back from the last (T - 1 - t)", ylabel="gradient norm",
         title=f"How much of the loss's gradient reaches step t (fresh models, T = {T})")
left.axvspan(T // 2, T - 1, color="0.9", label="where the marked values lie")
left.legend(fontsize=8)
for kind in curves:
    steps, solved = zip(*curves[kind])
    right.plot(steps, [100 * s for s in solved], "-o", ms=3, color=colors[kind], label=kinds[kind])
right.axhline(100 * always_half, color="0.4", ls=":", label="always answering 0.5")
right.set(xlabel="training step", ylabel="test sequences solved (%)", ylim=(0, 100),
          title="Trained with the same seed, batches and budget")
right.legend(fontsize=9)
for ax in (left, right):
    ax.grid(alpha=0.3)
fig.tight_layout()
results = {"T": T, "hidden_size": H, "batch_size": B, "steps": STEPS, "always_half": always_half,
           "reach": {kind: {which: {str(back): v for back, v in r.items()} for which, r in reach[kind].items()}
                     for kind in kinds},
           "solved": {kind: curves[kind][-1][1] for kind in kinds}}
if in_notebook():
    plt.show()  # the figure below; a notebook writes no files
else:
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="why-gates-"))
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "why_gates.png", dpi=90)
    (out / "why_gates.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out / 'why_gates.png'} and {out / 'why_gates.json'}")

# %% [markdown]
# ## Exercises
# **1.** Along the cell path each step back multiplies dL/dc_t by f_t (docs/why-lstm.md). Take
# one unit whose gates read nothing, so that f_t = σ(b_f) at every step: which forget-gate bias
# b_f leaves 10% of dL/dc_t 49 steps back? Compare it with the biases chrono draws,
# log U(1, T - 1). The check measures your bias with autograd through `lstm_step`.
#
# **2.** The two LSTMs have the same weights but for their gate biases, the same batches and
# the same budget. Why does the one with torch's draw learn nothing? Choose a letter.

# %%
for letter, choice in TORCH_DRAW_CHOICES.items():
    print(f"  {letter}) {choice}")
forget_bias = None  # exercise 1: a number
torch_draw = None  # exercise 2: "a", "b", "c" or "d"

# %%
print(check_cell_path_bias(forget_bias))
print(check_torch_draw(torch_draw))

# %% [markdown]
# Next: docs/why-gates.md, every cell (the GRU and the LSTM without each of its parts) trained
# alike; then scratch_lstm/params.py and example 02.

# %% [markdown]
# ## Measured
# 17.2-17.3 s in two runs with `--threads 1` on a 2-core AMD EPYC, nothing else running
# (2026-12-04, torch 2.14.1): `python examples/07_why_gates.py --threads 1`.
