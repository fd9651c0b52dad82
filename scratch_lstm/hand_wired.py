"""An LSTM of one unit, wired by hand, that remembers one bit: what the cell does with information.

Read this with ``examples/01_hand_wired_memory.py``, before :mod:`scratch_lstm.cell`. No training
here: every weight is set by hand, each for a reason stated beside it, and the result is an
ordinary ``nn.LSTM(3, 1)`` state dict, so the same numbers load into :class:`scratch_lstm.LSTM`
and into :class:`torch.nn.LSTM`.

**The task** (:func:`memory_task`). A stream of T steps; each step's input is
``x_t = (value, marker, query)``:

- ``value`` is a random bit, -1 or +1, at every step (0 at the last step);
- ``marker`` is 1 at one step among the first five, 0 elsewhere: remember *this* value;
- ``query`` is 1 at the last step only: say it now.

The answer is ``h_t`` itself, read at every step: 0 before the query (stay silent), the marked
value at the query. A stream is solved when every step's ``h_t`` lies within 0.5 of its target
(:func:`solved`): the right sign, clearly, at the query, and nothing worth hearing before it.

**The wiring** (:func:`hand_wired_weights`). One unit, so each gate is one row of ``W_ih`` (its
weights on value, marker and query) and one bias; the recurrent weights ``W_hh`` are all 0 (this
task needs no feedback). A gate is switched by a weight of 20 on its signal and a bias of -10:
σ(-10) = 0.00005 when the signal is 0, σ(10) = 0.99995 when it is 1.

======  ==========================  =========================================================
gate    pre-activation               why
======  ==========================  =========================================================
i       20·marker - 10               write only at the marker: every other value is a
                                     distractor and must stay out of the cell
f       10 - 20·marker               keep the cell (f = 0.99995 a step, 0.997 after 60 steps);
                                     let go of the old content where a new value is written
g       3·value                      the value to write: tanh(±3) = ±0.995
o       20·query - 10                show the cell only when asked: before the query the
                                     rest of the network (here, the answer) must not see it
======  ==========================  =========================================================

:data:`BROKEN` breaks one gate at a time, and :func:`solved` shows what each gate was for.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .cell import LSTMStep, lstm_step

INPUTS = ("value", "marker", "query")  # the three features of x_t, in this order
GATES = "ifgo"  # the rows of W_ih, W_hh, b_ih, b_hh, in nn.LSTM's order
SWITCH, OFF = 20.0, -10.0  # a gate's weight on its signal and its bias: σ(-10) closed, σ(10) open
GAIN = 3.0  # g = tanh(3·value): ±0.995, nearly the bit itself
TOLERANCE = 0.5  # a step is right when |h_t - y_t| < 0.5
MARKER_STEPS = 5  # the marker falls on one of the first five steps

# Each broken variant: (gate, what its pre-activation becomes, what the text says goes wrong).
BROKEN = {
    "f=0.5": ("f", "0", "the bit fades: halved at every step, nothing is left at the query"),
    "i=1": ("i", "+10", "every value is written: the marked bit drowns among the distractors"),
    "o=1": ("o", "+10", "the cell shows at every step: it answers before it is asked"),
}


def hand_wired_weights(broken: str | None = None, dtype: torch.dtype = torch.float64) -> dict[str, Tensor]:
    """The hand-set weights of an ``nn.LSTM(3, 1)``, under ``nn.LSTM``'s parameter names.

    ``broken`` is ``None`` (the working wiring) or a key of :data:`BROKEN`: that gate's weights
    are set to 0 and its bias to 0 (``f = σ(0) = 0.5``) or +10 (``i`` or ``o`` always open).
    """
    if broken is not None and broken not in BROKEN:
        raise ValueError(f"broken must be None or one of {sorted(BROKEN)}, got {broken!r}")
    w_ih = torch.zeros(4, 3, dtype=dtype)  # (4H, I): rows i, f, g, o; columns value, marker, query
    b_ih = torch.zeros(4, dtype=dtype)  # (4H,)
    w_ih[0, 1], b_ih[0] = SWITCH, OFF  # z_i = 20·marker - 10: write only at the marker
    w_ih[1, 1], b_ih[1] = -SWITCH, -OFF  # z_f = 10 - 20·marker: keep, but clear where a value is written
    w_ih[2, 0] = GAIN  # z_g = 3·value: what to write, ±0.995
    w_ih[3, 2], b_ih[3] = SWITCH, OFF  # z_o = 20·query - 10: show the cell only at the query
    if broken is not None:
        gate, bias, _ = BROKEN[broken]
        row = GATES.index(gate)
        w_ih[row] = 0.0  # the gate no longer reads its signal ...
        b_ih[row] = float(bias)  # ... and sits at σ(0) = 0.5 or σ(10) = 0.99995
    return {
        "weight_ih_l0": w_ih,
        "weight_hh_l0": torch.zeros(4, 1, dtype=dtype),  # (4H, H): no feedback needed
        "bias_ih_l0": b_ih,
        "bias_hh_l0": torch.zeros(4, dtype=dtype),  # (4H,): nn.LSTM's second bias, unused here
    }


def memory_task(n: int, steps: int, generator: torch.Generator,
                dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """``n`` streams of ``steps`` steps: ``x (n, steps, 3)`` and the targets ``y (n, steps)``.

    Each stream: a random bit (±1) at every step, the marker on one of the first
    :data:`MARKER_STEPS` steps, the query on the last; ``y`` is 0 but at the last step, where it
    is the marked bit.
    """
    if steps <= MARKER_STEPS:
        raise ValueError(f"steps must exceed {MARKER_STEPS} (the marker's range), got {steps}")
    rows = torch.arange(n)
    value = torch.randint(0, 2, (n, steps), generator=generator).to(dtype) * 2 - 1  # (n, T): ±1
    value[:, -1] = 0.0  # the query step carries no value
    at = torch.randint(0, MARKER_STEPS, (n,), generator=generator)  # (n,): the marked step
    marker = torch.zeros(n, steps, dtype=dtype)
    marker[rows, at] = 1.0
    query = torch.zeros(n, steps, dtype=dtype)
    query[:, -1] = 1.0
    y = torch.zeros(n, steps, dtype=dtype)
    y[:, -1] = value[rows, at]  # say the marked bit at the query, nothing before
    return torch.stack([value, marker, query], dim=-1), y


def solved(h: Tensor, y: Tensor) -> Tensor:
    """``(n,)`` booleans: every step's output ``h (n, T)`` within :data:`TOLERANCE` of ``y``."""
    return ((h - y).abs() < TOLERANCE).all(dim=1)


def run_steps(weights: dict[str, Tensor], x: Tensor) -> list[LSTMStep]:
    """Every step of one layer over ``x (n, T, 3)``: :func:`lstm_step` in a plain loop."""
    h = x.new_zeros(x.size(0), 1)  # h_{-1}
    c = x.new_zeros(x.size(0), 1)  # c_{-1}
    steps = []
    for t in range(x.size(1)):
        step = lstm_step(x[:, t], h, c, weights["weight_ih_l0"], weights["weight_hh_l0"],
                         weights["bias_ih_l0"], weights["bias_hh_l0"])
        h, c = step.h, step.c
        steps.append(step)
    return steps


def example_stream(steps: int = 60) -> tuple[Tensor, Tensor]:
    """The one stream the lesson and the docs print: ``x (1, steps, 3)``, ``y (1, steps)``.

    Its bits come from seed 0; the marker is on step 2, whose value is -1.
    """
    x, y = memory_task(1, steps, torch.Generator().manual_seed(0))
    x[0, :, 1] = 0.0
    x[0, 2, 1] = 1.0  # the marker on step 2 ...
    x[0, 2, 0] = -1.0  # ... with the value -1
    y[0, -1] = -1.0
    return x, y


def step_table(weights: dict[str, Tensor], x: Tensor, rows: list[int] | None = None) -> str:
    """The table of one stream ``x (1, T, 3)``: t, the input, i, f, g, o, c and h, 3 decimals.

    ``rows`` picks the steps shown (default: 0-5, then the last three); a gap is shown as ``...``.
    """
    steps = run_steps(weights, x)
    T = len(steps)
    rows = rows if rows is not None else [0, 1, 2, 3, 4, 5, T - 3, T - 2, T - 1]
    lines = ["   t   x_t  marker query |     i      f      g      o |      c      h"]
    for k, t in enumerate(rows):
        if k and t != rows[k - 1] + 1:
            lines.append(" ...")
        value, marker, query = x[0, t].tolist()
        s = steps[t]
        gates = "  ".join(f"{v:5.3f}" for v in (s.i.item(), s.f.item()))
        lines.append(f"{t:4d} {value:+5.0f} {marker:5.0f} {query:6.0f}  | {gates} {s.g.item():+6.3f}  "
                     f"{s.o.item():5.3f} | {s.c.item():+6.3f} {s.h.item():+6.3f}")
    return "\n".join(lines)
