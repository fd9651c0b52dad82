"""Exercises for the lessons (the examples, also notebooks): a learner writes an answer and a check
says "correct", or what is wrong with a hint (which equation, which shape, which step first
differs), without showing the solution.

Each ``check_<name>(answer)`` returns a :class:`Verdict` (``print`` it, or leave it as a notebook
cell's last line); ``answer=None`` is "not yet done", so a lesson runs top to bottom before the
learner has written anything. A step function is checked on random float64 inputs, values and
gradients, against ``nn.LSTMCell`` or the project's own step (:mod:`scratch_lstm.variants`); a
wrong answer is matched against the mistakes learners make (gates in another order, a bias
missing, tanh where σ belongs, ...) to name the one made.

    check_lstm_step(fn)          the six equations, against nn.LSTMCell          (example 03)
    check_gru_step(fn)           the GRU step, against gru_step and nn.GRUCell    (example 03)
    check_parameter_count(n)     the closed-form count of COUNT_CONFIG            (example 02)
    check_gate_rows(rows)        which rows of weight_ih_l0 hold the candidate g  (example 02)
    check_initial_loss(loss)     an untrained classifier's cross-entropy          (example 04)
    check_train_step(fn)         one step of the training loop                    (example 04)
    check_forget_bias(b)         the forget bias of a 100-step forgetting time    (example 05)
    check_cifg_step(fn)          the CIFG step, against variants.cifg_step        (example 05)
    check_clamp_o1(choice)       what --clamp o=1 does to the lecture's model     (example 05)
    check_grid_programs(n)       the programs of a Triton launch                  (example 06)
    check_hold(weights)          the hand-wired unit holding a bit 200 steps      (example 01)
    check_second_marker(choice)  what a second marker does to the hand-wired cell (example 01)
    check_cell_path_bias(b)      the forget bias that keeps 10% of dL/dc_t        (example 07)
    check_torch_draw(choice)     why the LSTM with torch's draw learns nothing    (example 07)
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cell import lstm_step
from .gates import forgetting_times
from .hand_wired import MARKER_STEPS, TOLERANCE, example_stream, hand_wired_weights, memory_task, run_steps, solved
from .params import lstm_num_parameters
from .variants import cifg_step, gru_step

CORRECT, NOT_DONE, WRONG = "correct", "not yet done", "not yet"


class Verdict:
    """What a check found: ``status`` (``"correct"``, ``"not yet done"`` or ``"not yet"``) and a
    ``message`` for the learner. It prints as its message and is true only when correct."""

    def __init__(self, status: str, message: str):
        self.status, self.message = status, message

    @property
    def ok(self) -> bool:
        """Whether the answer is correct."""
        return self.status == CORRECT

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"

    __repr__ = __str__


def _correct(message: str) -> Verdict:
    return Verdict(CORRECT, message)


def _not_done(what: str) -> Verdict:
    return Verdict(NOT_DONE, f"{what}, then run this check again")


def _wrong(message: str) -> Verdict:
    return Verdict(WRONG, message)


def _letter(answer, choices) -> tuple[str | None, Verdict | None]:
    """A multiple-choice answer: ``(its letter, None)``, or ``(None, the verdict)`` where it is no
    answer yet or not one of ``choices``."""
    if answer is None:
        return None, _not_done(f"choose one of {', '.join(choices)}")
    if not isinstance(answer, str) or answer.strip().lower() not in choices:
        return None, _wrong(f"choose one of the letters {', '.join(choices)}")
    return answer.strip().lower(), None


# ---- step functions: random inputs, values and gradients -------------------------------------------

B, I, H = 3, 5, 4  # the batch, input and hidden sizes the step checks use (small, all different)


def _draw(seed: int, gates: int, cell: bool) -> dict[str, Tensor]:
    """Random float64 inputs of a step: x (B, I), h_prev (B, H), [c_prev (B, H)], weights and biases."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).requires_grad_()

    inputs = {"x": rand(B, I), "h_prev": rand(B, H)}
    if cell:
        inputs["c_prev"] = rand(B, H)
    inputs.update(w_ih=rand(gates * H, I, scale=0.7), w_hh=rand(gates * H, H, scale=0.7),
                  b_ih=rand(gates * H, scale=0.5), b_hh=rand(gates * H, scale=0.5))
    return inputs


def _outputs(result, names: tuple[str, ...]) -> tuple[Tensor, ...] | str:
    """The answer's outputs in ``names``' order (a tuple, or a record with those attributes), or
    what is wrong with its form."""
    if all(hasattr(result, n) for n in names) and not isinstance(result, Tensor):
        result = tuple(getattr(result, n) for n in names)
    if len(names) == 1 and isinstance(result, Tensor):
        result = (result,)
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        return f"it returned {type(result).__name__}; return {' and '.join(names)} as " + (
            f"a tuple ({', '.join(names)})" if len(names) > 1 else "one tensor")
    for name, t in zip(names, result):
        if not isinstance(t, Tensor):
            return f"{name} is a {type(t).__name__}, not a tensor: compute it with torch's operations"
        if tuple(t.shape) != (B, H):
            return (f"{name} has shape {tuple(t.shape)}, expected (B, H) = ({B}, {H}) with B = {B} rows, "
                    f"I = {I} inputs, H = {H} units: x is (B, I), w_ih is ({'4' if len(names) > 1 else '3'}H, I), "
                    "so x @ w_ih.T is (B, gates*H); split it into blocks of H columns")
    return tuple(result)


def _call(fn: Callable, inputs: dict[str, Tensor], names: tuple[str, ...]):
    """``fn(**inputs)``'s outputs, or a message saying what went wrong."""
    try:
        result = fn(*inputs.values())
    except Exception as e:  # the learner's code: any error is something to explain
        hint = ""
        if isinstance(e, RuntimeError) and ("shape" in str(e) or "size" in str(e)):
            hint = (f"; the shapes: x ({B}, I={I}), h_prev ({B}, H={H}), w_ih (gates*H, I), w_hh (gates*H, H): "
                    "x @ w_ih.T + h_prev @ w_hh.T is (B, gates*H)")
        return f"calling it raised {type(e).__name__}: {e}{hint}"
    return _outputs(result, names)


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-7, atol=1e-9)


def _first_difference(name: str, a: Tensor, b: Tensor) -> str:
    """Where ``a`` first differs from ``b``: the row and unit."""
    row, unit = divmod(int(((a - b).abs() > 1e-9 + 1e-7 * b.abs()).flatten().nonzero()[0]), b.shape[1])
    return (f"{name} first differs at row {row}, unit {unit} ({a[row, unit].item():.4f}, expected "
            f"{b[row, unit].item():.4f})")


def _check_step(fn, reference: Callable, names: tuple[str, ...], hints: dict[str, str],
                mistakes: list[tuple[Callable, str]], gates: int, cell: bool, what: str) -> Verdict:
    """The answer ``fn`` against ``reference`` on two random draws: forms, values (a known mistake
    named if it matches), then the gradients of every input."""
    if fn is None:
        return _not_done(f"write {what}")
    if not callable(fn):
        return _wrong(f"the answer is of type {type(fn).__name__}; pass the function itself (its name, no parentheses)")
    for seed in (0, 1):
        inputs = _draw(seed, gates, cell)
        got = _call(fn, inputs, names)
        if isinstance(got, str):
            return _wrong(got)
        want = _outputs(reference(*inputs.values()), names)
        if all(_close(a, b) for a, b in zip(got, want)):
            continue
        if len(names) == 2 and _close(got[0], want[1]) and _close(got[1], want[0]):
            return _wrong(f"the two outputs are swapped: return ({', '.join(names)}) in that order")
        for mistake, hint in mistakes:
            made = _outputs(mistake(*(t.detach() for t in inputs.values())), names)
            if all(_close(a, b) for a, b in zip(got, made)):
                return _wrong(hint)
        for name in hints:  # in the order the step computes them
            a, b = got[names.index(name)], want[names.index(name)]
            if not _close(a, b):
                return _wrong(f"{_first_difference(name, a, b)}: {hints[name]}")
    # the values agree; the gradients of a weighted sum of the outputs, with respect to every input
    inputs = _draw(2, gates, cell)
    got = _call(fn, inputs, names)
    if isinstance(got, str):
        return _wrong(got)
    weights = [torch.randn(B, H, generator=torch.Generator().manual_seed(7 + k), dtype=torch.float64)
               for k in range(len(names))]
    loss = sum((o * w).sum() for o, w in zip(got, weights))
    if not loss.requires_grad:
        return _wrong("the values are right but no gradient flows through them: compute with torch's operations "
                      "on the inputs (no .detach(), .item(), .numpy() or torch.no_grad())")
    grads = torch.autograd.grad(loss, list(inputs.values()), allow_unused=True)
    ref_inputs = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    ref_loss = sum((o * w).sum() for o, w in zip(_outputs(reference(*ref_inputs.values()), names), weights))
    ref_grads = torch.autograd.grad(ref_loss, list(ref_inputs.values()))
    for name, g, r in zip(inputs, grads, ref_grads):
        if g is None:
            return _wrong(f"the values are right but no gradient reaches {name}: the step must use it through "
                          "torch's operations")
        if not torch.allclose(g, r, rtol=1e-6, atol=1e-8):
            return _wrong(f"the values are right but dL/d{name} differs: something between {name} and the outputs "
                          "leaves autograd's view (a .detach(), an in-place change, a value computed outside torch)")
    return _correct(f"{what} matches, values and the gradients of all {len(inputs)} inputs, on random inputs")


def _z(x, h_prev, w_ih, w_hh, b_ih, b_hh, gates, bias="both"):
    """The pre-activations' blocks, with ``bias`` "both", "ih", "hh" or "none" (for the mistakes)."""
    z = x @ w_ih.T + h_prev @ w_hh.T
    z = z + (b_ih if bias in ("both", "ih") else 0) + (b_hh if bias in ("both", "hh") else 0)
    return list(z.chunk(gates, dim=1))


def _lstm(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, order=(0, 1, 2, 3), bias="both", acts="sstS",
          cell="full", squash=True):
    """The six equations with the learner's mistakes as options: the gates' block ``order``, a
    ``bias`` left out, activations ``acts`` for i, f, g, o (s σ, t tanh, S σ), ``cell`` "full",
    "no_i", "no_f" or "h" (h_{t-1} for c_{t-1}), ``squash`` (tanh in h_t)."""
    blocks = _z(x, h_prev, w_ih, w_hh, b_ih, b_hh, 4, bias)
    z_i, z_f, z_g, z_o = (blocks[k] for k in order)
    act = {"s": torch.sigmoid, "S": torch.sigmoid, "t": torch.tanh}
    i, f, g, o = (act[a](z) for a, z in zip(acts, (z_i, z_f, z_g, z_o)))
    prev = h_prev if cell == "h" else c_prev
    c = {"no_i": f * prev + g, "no_f": prev + i * g}.get(cell, f * prev + i * g)
    h = o * (torch.tanh(c) if squash else c)
    return h, c


def _lstm_cell(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    """``nn.LSTMCell`` with these weights: the reference of :func:`check_lstm_step`."""
    cell = nn.LSTMCell(I, H, dtype=torch.float64)
    weights = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": b_hh}  # the inputs themselves
    return torch.func.functional_call(cell, weights, (x, (h_prev, c_prev)))


def _lstm_mistakes() -> list[tuple[Callable, str]]:
    order = ("the gate order: the rows of w_ih and w_hh are blocks of H in nn.LSTM's order [i | f | g | o] "
             "(input, forget, candidate, output); split z_t with z.chunk(4, dim=1) in that order")
    mistakes = [(lambda *a, p=p: _lstm(*a, order=p), order)
                for p in itertools.permutations(range(4)) if p != (0, 1, 2, 3)]
    for bias, missing in (("none", "both biases are"), ("ih", "b_hh is"), ("hh", "b_ih is")):
        mistakes.append((lambda *a, b=bias: _lstm(*a, bias=b),
                         f"the bias: {missing} missing; z_t = x_t W_ihᵀ + b_ih + h_(t-1) W_hhᵀ + b_hh has two"))
    for k, gate in ((0, "i_t"), (1, "f_t"), (3, "o_t")):
        acts = "sstS"[:k] + "t" + "sstS"[k + 1:]
        mistakes.append((lambda *a, acts=acts: _lstm(*a, acts=acts),
                         f"the equation of {gate}: a gate is σ(z), between 0 and 1; tanh belongs to the candidate g_t"))
    mistakes += [
        (lambda *a: _lstm(*a, acts="sssS"), "the equation of g_t: the candidate is tanh(z_g), between -1 and 1, not σ"),
        (lambda *a: _lstm(*a, squash=False), "the equation of h_t: h_t = o_t ⊙ tanh(c_t); the cell is squashed"),
        (lambda *a: _lstm(*a, cell="no_i"),
         "the equation of c_t: the candidate enters through the input gate, i_t ⊙ g_t"),
        (lambda *a: _lstm(*a, cell="no_f"),
         "the equation of c_t: the old cell is kept through the forget gate, f_t ⊙ c_(t-1)"),
        (lambda *a: _lstm(*a, cell="h"), "the equation of c_t: the cell carries c_(t-1), not h_(t-1)"),
    ]
    return mistakes


def check_lstm_step(fn: Callable | None) -> Verdict:
    """Check ``fn(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh) -> (h, c)``, one LSTM step written from
    the six equations (``x (B, I)``; ``h_prev, c_prev (B, H)``; ``w_ih (4H, I)``, ``w_hh (4H, H)``,
    ``b_ih, b_hh (4H,)``, rows in the order i, f, g, o), against ``nn.LSTMCell``: values, then
    gradients with respect to all seven inputs."""
    hints = {"c": "check i_t, f_t, g_t and c_t = f_t ⊙ c_(t-1) + i_t ⊙ g_t",
             "h": "c_t is right: check o_t = σ(z_o) and h_t = o_t ⊙ tanh(c_t)"}
    return _check_step(fn, _lstm_cell, ("h", "c"), hints, _lstm_mistakes(), 4, True,
                       "your lstm_step (h_t, c_t)")


def _gru(x, h_prev, w_ih, w_hh, b_ih, b_hh, order=(0, 1, 2), keep="z", reset="after", bias="both"):
    """The GRU step with the learner's mistakes as options: the blocks' ``order``, which gate
    ``keep``s the old state ("z" right, "1-z" swapped), where the ``reset`` gate acts ("after" the
    product and its bias, nn.GRU's; "before" it, Cho et al.'s; "no_bias" not on b_hn), a ``bias``
    left out."""
    a = list((x @ w_ih.T + (b_ih if bias == "both" else 0)).chunk(3, dim=1))
    b = list((h_prev @ w_hh.T + (b_hh if bias == "both" else 0)).chunk(3, dim=1))
    (a_r, a_z, a_n), (b_r, b_z, b_n) = ([blocks[k] for k in order] for blocks in (a, b))
    w_hn = w_hh.chunk(3, dim=0)[order[2]]
    r = torch.sigmoid(a_r + b_r)
    z = torch.sigmoid(a_z + b_z)
    b_hn = b_hh.chunk(3)[order[2]] if bias == "both" else 0
    hidden = {"after": r * b_n, "before": (r * h_prev) @ w_hn.T + b_hn, "no_bias": r * (b_n - b_hn) + b_hn}[reset]
    n = torch.tanh(a_n + hidden)
    return (1 - z) * n + z * h_prev if keep == "z" else z * n + (1 - z) * h_prev


def _gru_mistakes() -> list[tuple[Callable, str]]:
    order = ("the gate order: the rows of w_ih and w_hh are blocks of H in nn.GRU's order [r | z | n] "
             "(reset, update, candidate)")
    mistakes = [(lambda *a, p=p: _gru(*a, order=p), order) for p in itertools.permutations(range(3)) if p != (0, 1, 2)]
    return mistakes + [
        (lambda *a: _gru(*a, keep="1-z"), "the equation of h_t: h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_(t-1); the update "
                                          "gate z_t is the share of the old state kept"),
        (lambda *a: _gru(*a, reset="before"), "the equation of n_t: nn.GRU applies r_t after the product, bias "
                                              "included: r_t ⊙ (W_hn h_(t-1) + b_hn), not W_hn (r_t ⊙ h_(t-1))"),
        (lambda *a: _gru(*a, reset="no_bias"), "the equation of n_t: the reset gate multiplies b_hn too: "
                                               "r_t ⊙ (W_hn h_(t-1) + b_hn)"),
        (lambda *a: _gru(*a, bias="none"), "the bias: each of r, z, n has two bias vectors, b_i* and b_h*"),
    ]


def check_gru_step(fn: Callable | None) -> Verdict:
    """Check ``fn(x, h_prev, w_ih, w_hh, b_ih, b_hh) -> h``, one GRU step in ``nn.GRU``'s form
    (rows r, z, n; ``w_ih (3H, I)``, ``w_hh (3H, H)``, ``b_ih, b_hh (3H,)``), against
    :func:`scratch_lstm.gru_step` (itself tested against ``nn.GRUCell``): values and gradients."""
    hints = {"h": "check r_t and z_t (σ of their blocks), n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_(t-1) + b_hn)) "
                  "and h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_(t-1)"}
    return _check_step(fn, gru_step, ("h",), hints, _gru_mistakes(), 3, False, "your GRU step h_t")


def _cifg(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, couple="1-f", rows="f", bias="both", acts="st"):
    """The CIFG step with the learner's mistakes as options: ``couple`` ("1-f" right, "f", or
    "own": σ of the i rows, the vanilla LSTM), ``rows`` the coupled gate reads ("f" right, or "i":
    f_t = 1 - σ(z_i)), a ``bias`` left out, ``acts`` of f and g."""
    z_i, z_f, z_g, z_o = _z(x, h_prev, w_ih, w_hh, b_ih, b_hh, 4, bias)
    act = {"s": torch.sigmoid, "t": torch.tanh}
    if rows == "i":
        i = torch.sigmoid(z_i)
        f = 1 - i
    else:
        f = act[acts[0]](z_f)
        i = {"1-f": 1 - f, "f": f, "own": torch.sigmoid(z_i)}[couple]
    g = act[acts[1]](z_g)
    c = f * c_prev + i * g
    return torch.sigmoid(z_o) * torch.tanh(c), c


def _cifg_mistakes() -> list[tuple[Callable, str]]:
    return [
        (lambda *a: _cifg(*a, couple="f"), "the coupling: what is forgotten is written, i_t = 1 - f_t, not f_t"),
        (lambda *a: _cifg(*a, couple="own"), "that is the vanilla LSTM: CIFG has no input gate of its own; "
                                             "i_t = 1 - f_t"),
        (lambda *a: _cifg(*a, rows="i"), "the coupling runs the other way here: f_t = σ(z_f) from the f rows, "
                                         "and i_t = 1 - f_t (the i rows are unused)"),
        (lambda *a: _cifg(*a, bias="none"), "the bias: both biases, b_ih and b_hh, enter every gate"),
        (lambda *a: _cifg(*a, acts="tt"), "the equation of f_t: a gate is σ(z_f), between 0 and 1, not tanh"),
        (lambda *a: _cifg(*a, acts="ss"), "the equation of g_t: the candidate is tanh(z_g), not σ"),
    ]


def check_cifg_step(fn: Callable | None) -> Verdict:
    """Check ``fn(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh) -> (h, c)``, one CIFG step (coupled
    input and forget gate, Greff et al. 2017), against :func:`scratch_lstm.variants.cifg_step`:
    values and gradients. The weights have nn.LSTM's four blocks of rows; the i rows go unused."""
    hints = {"c": "check f_t = σ(z_f), i_t = 1 - f_t, g_t and c_t = f_t ⊙ c_(t-1) + i_t ⊙ g_t",
             "h": "c_t is right: check h_t = o_t ⊙ tanh(c_t)"}
    return _check_step(fn, cifg_step, ("h", "c"), hints, _cifg_mistakes(), 4, True, "your CIFG step (h_t, c_t)")


# ---- numbers ----------------------------------------------------------------------------------------

def _number(answer, what: str, integer: bool = False) -> float | str:
    """The answer as a number, or what is wrong with it."""
    if isinstance(answer, Tensor) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return f"the answer is of type {type(answer).__name__}; give {what} as a number"
    if not math.isfinite(answer):
        return f"the answer is {answer}; give {what} as a finite number"
    if integer and answer != int(answer):
        return f"the answer is {answer}; {what} is a whole number"
    return answer


COUNT_CONFIG = dict(input_size=28, hidden_size=64, num_layers=2, bidirectional=True)
"""The configuration whose parameters :func:`check_parameter_count` asks for."""


def _count(I0: int, H: int, K: int, D: int, gates: int = 4, biases: int = 2, upper_input: int | None = None) -> int:
    """A stacked LSTM's count with the learner's mistakes as options (no projection)."""
    upper = D * H if upper_input is None else upper_input
    return D * (gates * H * (I0 + H + biases) + (K - 1) * gates * H * (upper + H + biases))


def check_parameter_count(answer) -> Verdict:
    """Check a count of the parameters of ``nn.LSTM(**COUNT_CONFIG)`` (2 layers, bidirectional,
    input 28, hidden 64), worked out by the closed form before any code counts it."""
    if answer is None:
        return _not_done("work out the count by the closed form")
    n = _number(answer, "the count", integer=True)
    if isinstance(n, str):
        return _wrong(n)
    I0, H, K = COUNT_CONFIG["input_size"], COUNT_CONFIG["hidden_size"], COUNT_CONFIG["num_layers"]
    right = lstm_num_parameters(**COUNT_CONFIG)
    if n == right:
        return _correct("that is nn.LSTM's count: each layer and direction holds 4H (I_k + H + 2) parameters")
    mistakes = [
        (_count(I0, H, K, 1, upper_input=2 * H), "that is one direction's count: a bidirectional layer has two, "
                                                 "each with its own weights"),
        (_count(I0, H, K, 1), "that is one direction's count: a bidirectional layer has two, each with its own "
                              "weights (and layer 1 reads both directions, 2H features)"),
        (_count(I0, H, K, 2, upper_input=H), "layer 1's input: it reads both directions of layer 0, 2H features, "
                                             "not H"),
        (_count(I0, H, K, 2, biases=1), "the biases: nn.LSTM has two bias vectors per gate, b_i* and b_h*"),
        (_count(I0, H, K, 2, biases=0), "the biases: each gate has two bias vectors, b_i* and b_h*"),
        (_count(I0, H, K, 2, gates=1), "the gates: each of the four gates i, f, g, o has its own block of H rows"),
        (_count(I0, H, 1, 2), "that counts layer 0 only: there are 2 layers, and layer 1 reads 2H features"),
    ]
    for wrong, hint in mistakes:
        if n == wrong:
            return _wrong(hint)
    return _wrong(f"{n:,} is {'more' if n > right else 'less'} than the count: per layer and direction, "
                  "4 gates x H x (the layer's input size + H + 2 biases); layer 1's input is 2H")


def check_gate_rows(answer) -> Verdict:
    """Check which rows of ``nn.LSTM(28, 256).weight_ih_l0`` hold the candidate g's weights
    ``W_ig``: a ``slice`` or a ``(start, stop)`` pair, stop exclusive."""
    if answer is None:
        return _not_done("give the rows as (start, stop)")
    if isinstance(answer, slice):
        answer = (answer.start, answer.stop)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not all(isinstance(v, int) for v in answer):
        return _wrong("give the rows as two whole numbers (start, stop), stop exclusive, or a slice start:stop")
    start, stop = answer
    H = 256
    if (start, stop) == (2 * H, 3 * H):
        return _correct("W_ig is the third block of H rows: nn.LSTM stacks the gates i, f, g, o")
    if stop - start == H + 1 or stop - start == H - 1:
        return _wrong("an off-by-one: a block holds H = 256 rows, and stop is exclusive (rows start .. stop-1)")
    if stop - start != H:
        return _wrong(f"{stop - start} rows: each gate's block holds H = 256 rows (one per unit)")
    if start % H == 0 and 0 <= start < 4 * H:
        gate = "ifgo"[start // H]
        return _wrong(f"those are the rows of {gate}: the blocks are stacked in the order i, f, g, o")
    return _wrong("the blocks start at multiples of H = 256")


def check_initial_loss(answer) -> Verdict:
    """Check the cross-entropy an untrained 10-class classifier's loss starts near (its logits
    near 0, so every digit equally likely)."""
    if answer is None:
        return _not_done("give the loss as a number")
    loss = _number(answer, "the loss")
    if isinstance(loss, str):
        return _wrong(loss)
    right = -math.log(1 / 10)
    if abs(loss - right) < 0.01:
        return _correct("with every class at probability 1/10 the loss is -ln(1/10); the first batches print "
                        "about that, and a loss far above it means a confidently wrong model")
    if abs(loss - 1.0) < 0.01:
        return _wrong("that is -log10(1/10): F.cross_entropy uses the natural logarithm")
    if abs(loss - 0.1) < 0.01 or abs(loss - 10) < 0.01:
        return _wrong("that is the chance of a right guess (or its inverse); the loss is -ln of the probability "
                      "the model gives the right class")
    if abs(loss) < 0.01:
        return _wrong("0 is a perfect model's loss: an untrained one gives the right class probability 1/10")
    return _wrong("the loss is -ln p(right class), and an untrained model spreads p evenly over the 10 classes")


def check_forget_bias(answer) -> Verdict:
    """Check a forget-gate bias ``b_f = b_if + b_hf`` that gives a unit a forgetting time of 100
    steps, measured with :func:`scratch_lstm.forgetting_times` on a cell holding it."""
    if answer is None:
        return _not_done("give the bias b_f as a number")
    b = _number(answer, "the bias")
    if isinstance(b, str):
        return _wrong(b)
    cell = nn.LSTMCell(1, 1, dtype=torch.float64)
    with torch.no_grad():
        cell.bias_ih[1], cell.bias_hh[1] = b, 0.0  # the forget gate's row: b_f = b_if + b_hf
    t = forgetting_times(cell).item()
    if abs(t - 100) < 0.75:  # b_f to two decimals will do
        return _correct(f"forgetting_times says {t:.2f} steps: σ(b_f) keeps 1 - 1/100 of the cell each step")
    if 0 < b < 1:
        return _wrong(f"{b} looks like the gate's value f, not its bias: the bias is the pre-activation b_f with "
                      "σ(b_f) = f; forgetting time 1/(1 - σ(b_f))")
    if abs(t - 101) < 0.5:
        return _wrong(f"that gives {t:.2f} steps: the forgetting time 1/(1 - σ(b)) equals 1 + e^b, not e^b")
    if b < 0:
        return _wrong(f"a negative bias closes the gate (σ(b_f) < 1/2): {t:.2f} steps. The forgetting time is "
                      "1/(1 - σ(b_f)); solve it for b_f")
    return _wrong(f"that bias gives {t:.2f} steps (forgetting_times); the forgetting time is 1/(1 - σ(b_f)): "
                  "solve it for b_f")


CLAMP_O1_CHOICES = {
    "a": "nothing much: the accuracy stays within a point of the unclamped model's",
    "b": "it drops by several points to tens of points, but stays far above chance",
    "c": "it falls to about chance (10%): the network cannot work without the output gate",
    "d": "it rises: the output gate only hid information from the head",
}
"""The choices of :func:`check_clamp_o1`: what ``scratch-lstm eval --clamp o=1`` does to the
lecture's model trained on full MNIST."""


def check_clamp_o1(answer) -> Verdict:
    """Check a prediction (``"a"`` to ``"d"``, :data:`CLAMP_O1_CHOICES`) of what holding every
    output gate open (``--clamp o=1``) does to the lecture's trained model, as measured in
    docs/why-gates.md's lesion table."""
    choice, verdict = _letter(answer, CLAMP_O1_CHOICES)
    if verdict is not None:
        return verdict
    if choice == "b":
        return _correct("it loses points but stays far above chance (docs/why-gates.md's lesion table has the "
                        "measured figures). The cell is still written and kept; only its content now reaches the "
                        "head and the next layer in full, where the trained weights expected a filtered view")
    return _wrong({
        "a": "the trained network relies on its output gates: with o = 1 every unit shows tanh(c_t) in full, "
             "which the next layer's weights never saw in training",
        "c": "chance is what losing the forget gate does (f=1); with o = 1 the cells still write and keep what "
             "they read, and the head still sees it",
        "d": "a lesion of a trained network rarely helps it: its weights were fitted to the gates' filtering",
    }[choice])


def check_grid_programs(answer) -> Verdict:
    """Check how many programs one Triton launch runs for a ``(B, H) = (100, 200)`` state in tiles
    of 16 rows x 64 units, each tile split over four programs (one per gate)."""
    from .triton_lstm import programs  # the rule the kernels launch by (importing it needs no Triton)

    if answer is None:
        return _not_done("count the programs")
    n = _number(answer, "the count", integer=True)
    if isinstance(n, str):
        return _wrong(n)
    B, H, block_b, block_h = 100, 200, 16, 64
    if n == programs(B, H, block_b, block_h, split=True):
        return _correct("a tile covers 16 x 64 of the state, the last ones partly; four programs a tile")
    if n == programs(B, H, block_b, block_h, split=False):
        return _wrong("that is one program a tile: here each tile is split over four programs, one per gate")
    if n == (B // block_b) * (H // block_h) * 4 or n == (B // block_b) * (H // block_h):
        return _wrong("the tiles at the edges: 100 rows need 7 tiles of 16 (the last one part full), not 6 "
                      "(round up, not down)")
    return _wrong("count the tiles along the rows and along the units (rounding up), then the programs per tile")


def check_train_step(fn: Callable | None) -> Verdict:
    """Check ``fn(model, optimizer, x, y) -> loss``, one step of the training loop (the
    cross-entropy of ``model(x)`` against ``y``, backward, the optimiser's step), by running it
    twice beside the loop of example 04 on copies of one small model and comparing the weights."""
    if fn is None:
        return _not_done("write the training step")
    if not callable(fn):
        return _wrong(f"the answer is of type {type(fn).__name__}; pass the function itself")
    from .classifier import LSTMClassifier

    torch.manual_seed(0)
    model = LSTMClassifier(input_size=6, hidden_size=5, num_classes=10, num_layers=1)
    theirs, ours = copy.deepcopy(model), copy.deepcopy(model)
    opt_theirs, opt_ours = torch.optim.Adam(theirs.parameters(), lr=1e-2), torch.optim.Adam(ours.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 7, 6, generator=g), torch.randint(0, 10, (4,), generator=g)) for _ in range(2)]
    start = [p.detach().clone() for p in theirs.parameters()]
    for step, (x, y) in enumerate(batches, start=1):
        try:
            fn(theirs, opt_theirs, x, y)
        except Exception as e:  # the learner's code
            return _wrong(f"step {step} raised {type(e).__name__}: {e}")
        loss = F.cross_entropy(ours(x), y)
        opt_ours.zero_grad()
        loss.backward()
        opt_ours.step()
        if step == 1 and all(torch.equal(p, s) for p, s in zip(theirs.parameters(), start)):
            return _wrong("the weights did not change: after loss.backward(), optimizer.step() updates them")
        if not all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(theirs.parameters(), ours.parameters())):
            if step == 2:
                return _wrong("the first step is right, the second differs: backward() adds to .grad, so clear the "
                              "old gradients (optimizer.zero_grad()) before each backward()")
            return _wrong("the first step already differs: the loss is F.cross_entropy(model(x), y) on the logits "
                          "(no softmax first), then loss.backward(), then optimizer.step()")
    return _correct("two steps, the same weights as the loop of example 04")


# ---- example 01: the hand-wired memory --------------------------------------------------------------

HOLD_STEPS = 200
"""How many steps :func:`check_hold` asks the hand-wired unit to hold its bit: the marker falls on
one of the first five steps and the query on step ``MARKER_STEPS + HOLD_STEPS``, 200 or more
steps later."""

_SHAPES = {"weight_ih_l0": (4, 3), "weight_hh_l0": (4, 1), "bias_ih_l0": (4,), "bias_hh_l0": (4,)}


def check_hold(weights) -> Verdict:
    """Check hand-set weights of an ``nn.LSTM(3, 1)`` (a dict of its four tensors under
    ``nn.LSTM``'s names, as :func:`scratch_lstm.hand_wired.hand_wired_weights` returns) on the
    memory task of :mod:`scratch_lstm.hand_wired` with the bit held :data:`HOLD_STEPS` steps:
    every stream of a test set must be solved. A failure names the first part of the story that
    goes wrong: the write, the distractors kept out, the hold, the silence, the answer."""
    if weights is None:
        return _not_done("set the four tensors of nn.LSTM(3, 1)")
    names = ", ".join(f"{name} {shape}" for name, shape in _SHAPES.items())
    if not isinstance(weights, Mapping) or set(weights) != set(_SHAPES):
        given = sorted(weights) if isinstance(weights, Mapping) else type(weights).__name__
        return _wrong(f"give a dict of nn.LSTM(3, 1)'s four tensors: {names}; got {given}")
    for name, shape in _SHAPES.items():
        t = weights[name]
        if not isinstance(t, Tensor) or tuple(t.shape) != shape:
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            return _wrong(f"{name} is {got}, expected {shape}: rows i, f, g, o (one unit each), columns "
                          f"value, marker, query (W_ih is (4H, I) with H = 1, I = 3)")
    w = {name: t.detach().to(torch.float64) for name, t in weights.items()}
    n, T = 200, MARKER_STEPS + HOLD_STEPS + 1
    x, y = memory_task(n, T, torch.Generator().manual_seed(0))  # (n, T, 3), (n, T)
    with torch.no_grad():
        steps = run_steps(w, x)
    i, f, g, o, c, h = (torch.cat([getattr(s, k) for s in steps], dim=1) for k in "ifgoch")  # each (n, T)
    ok = solved(h, y)
    if ok.all():
        return _correct(f"all {n} streams of {T} steps solved: the marked bit written, held {HOLD_STEPS} steps "
                        "and more, said at the query, silence before it")
    marker, query = x[..., 1].bool(), x[..., 2].bool()  # (n, T)
    others = ~marker & ~query  # the distractors' steps
    at = marker.double().argmax(dim=1)  # (n,): the marked step
    rows = torch.arange(n)
    after = torch.arange(T) > at[:, None]  # (n, T): the steps after the marker
    hold = after & ~query  # the steps that only keep
    if i[marker].min() < 0.5:
        return _wrong(f"nothing is written at the marker: the input gate is {i[marker].min():.2f} there. "
                      "i_t must open (near 1) where marker = 1")
    let_in = (i * g.abs() * hold).sum(dim=1).median()  # what the distractors write while it holds
    if i[others].max() > 0.1 or let_in > 0.25:
        return _wrong(f"the input gate is open at steps without the marker (i_t up to {i[others].max():.2f}; over "
                      f"the hold the distractors write {let_in:.2f} in all): the marked bit drowns among them; "
                      "close it where marker = 0")
    kept = (c[:, -2] / c[rows, at]).median().clamp(min=0)  # what is left just before the query, of what was written
    if kept < 0.9:
        f_hold = f[hold].mean()
        return _wrong(f"the bit fades: {HOLD_STEPS} steps after the marker the cell keeps {kept:.2f} of what was "
                      f"written (f_t is {f_hold:.4f} a step while it holds, and c_t = f_t ⊙ c_(t-1) multiplies "
                      "by f_t at every step): the forget gate must sit closer to 1 there")
    loud = h[:, :-1].abs() >= TOLERANCE
    if loud.any():
        t = int(loud.any(dim=0).double().argmax())
        return _wrong(f"h_t is heard before the query (|h_t| up to {h[:, :-1].abs().max():.2f}, first at step {t}; "
                      f"the output gate is up to {o[:, :-1].max():.2f} there): keep o_t closed until query = 1")
    if o[:, -1].min() < 0.5:
        return _wrong(f"the output gate is {o[:, -1].min():.2f} at the query: h_t = o_t ⊙ tanh(c_t) does not show "
                      "the cell when asked; open it where query = 1")
    if (h[:, -1] * y[:, -1] < 0).double().mean() > 0.5:
        return _wrong("the answer has the wrong sign: g_t = tanh(z_g), what is written, must carry the sign of "
                      "the value")
    return _wrong(f"{int((~ok).sum())} of {n} streams unsolved: the answer at the query, o_t ⊙ tanh(c_t), is "
                  f"{h[:, -1].abs().min():.2f} at its faintest and must lie within {TOLERANCE} of ±1: write a "
                  "larger value (g_t nearer ±1) or open the output gate wider")


SECOND_MARKER_CHOICES = {
    "a": "the new bit replaces the old one: c becomes about +0.995",
    "b": "the two add up: c becomes about 0",
    "c": "the old bit stays: the forget gate keeps it, c stays about -0.99",
    "d": "the cell overflows past 1 and the stored bit is lost",
}
"""The choices of :func:`check_second_marker`: what the hand-wired cell holds after a second
marker arrives with the value +1 while it holds -0.995."""


def check_second_marker(answer) -> Verdict:
    """Check a prediction (``"a"`` to ``"d"``, :data:`SECOND_MARKER_CHOICES`) of what the
    hand-wired cell holds after a second marker comes with +1, by running the wiring on it."""
    choice, verdict = _letter(answer, SECOND_MARKER_CHOICES)
    if verdict is not None:
        return verdict
    x, _ = example_stream()  # the marker on step 2 with -1; a second one on step 30 with +1
    x[0, 30, :2] = torch.tensor([1.0, 1.0], dtype=x.dtype)
    c = run_steps(hand_wired_weights(), x)[30].c.item()
    if choice == "a":
        return _correct(f"c_30 = {c:+.3f}: at a marker the wiring closes f (σ(10 - 20) = 0.00005) and opens i, "
                        "so c_t = f_t c_(t-1) + i_t g_t is the new g alone. The forget gate's second job: make "
                        "room where something new is written")
    return _wrong({
        "b": "the sum would need f_t = 1 at the marker; the forget gate reads the marker too (z_f = 10 - 20·marker)",
        "c": "the forget gate reads the marker: at a marker z_f = 10 - 20 = -10, so f_t lets go of the old content",
        "d": "c_t = f_t c_(t-1) + i_t g_t with f_t and i_t between 0 and 1 and |g_t| < 1: look at f_t at a marker",
    }[choice])


# ---- example 07: why gates -------------------------------------------------------------------------

PATH_STEPS, PATH_LEFT = 49, 0.1
""":func:`check_cell_path_bias` asks for the forget bias that leaves ``PATH_LEFT`` of dL/dc_t
``PATH_STEPS`` steps back along the cell path."""


def _cell_path_reach(b: float) -> float:
    """|dc_T / dc_0| over ``PATH_STEPS`` steps of one unit whose gates read nothing, its forget
    bias ``b``: what the cell path alone carries back, measured by autograd."""
    w_ih, w_hh = torch.zeros(4, 1, dtype=torch.float64), torch.zeros(4, 1, dtype=torch.float64)
    b_ih, b_hh = torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    b_ih[1] = b  # the forget gate's row
    x = torch.zeros(1, 1, dtype=torch.float64)
    c0 = torch.ones(1, 1, dtype=torch.float64, requires_grad=True)
    h, c = torch.zeros(1, 1, dtype=torch.float64), c0
    for _ in range(PATH_STEPS):
        step = lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
        h, c = step.h, step.c
    (grad,) = torch.autograd.grad(c.sum(), c0)
    return grad.abs().item()


def check_cell_path_bias(answer) -> Verdict:
    """Check a forget-gate bias ``b_f`` at which 10% of dL/dc_t is left 49 steps back along the
    cell path (within 10% of that), measured by autograd through :func:`lstm_step`."""
    if answer is None:
        return _not_done("give the bias b_f as a number")
    b = _number(answer, "the bias")
    if isinstance(b, str):
        return _wrong(b)
    reach = _cell_path_reach(b)
    if abs(reach / PATH_LEFT - 1) < 0.1:
        return _correct(f"autograd says {reach:.3f} of dL/dc_t is left {PATH_STEPS} steps back: the cell path "
                        "multiplies it by f_t = σ(b_f) at every step, and chrono draws biases of this size and more")
    if 0 < b < 1:
        return _wrong(f"{b} looks like the gate's value f, not its bias: the bias is the pre-activation b_f with "
                      "σ(b_f) = f")
    if abs(math.tanh(b) ** PATH_STEPS / PATH_LEFT - 1) < 0.1:
        return _wrong("that solves tanh(b_f)^49 = 0.1: a gate is σ(z_f), between 0 and 1, not tanh")
    if b <= 0.5:
        return _wrong(f"that bias leaves {reach:.1e}: with b_f near 0 (torch's draw) f_t = σ(0) = 0.5 halves "
                      "dL/dc_t at every step back, and a negative one closes the gate further")
    return _wrong(f"that bias leaves {reach:.2g} of dL/dc_t {PATH_STEPS} steps back (autograd), not "
                  f"{PATH_LEFT:g}: each step back multiplies it by f_t = σ(b_f); solve for b_f")


TORCH_DRAW_CHOICES = {
    "a": "its forget gates start near σ(0) = 0.5, so dL/dc_t halves at every step back and almost nothing "
         "reaches the marked values",
    "b": "its tanh saturates and takes the gradient with it, as in the plain RNN",
    "c": "its output gates block the gradient before it reaches the cell",
    "d": "it has four times the RNN's weights and needs more training steps",
}
"""The choices of :func:`check_torch_draw`: why example 07's LSTM with torch's draw of its biases
learns nothing."""


def check_torch_draw(answer) -> Verdict:
    """Check the reason (``"a"`` to ``"d"``, :data:`TORCH_DRAW_CHOICES`) example 07's LSTM with
    torch's draw of its biases learns nothing while the one with chrono forget gates learns."""
    choice, verdict = _letter(answer, TORCH_DRAW_CHOICES)
    if verdict is not None:
        return verdict
    if choice == "a":
        return _correct("along the cell path dL/dc_(t-1) = f_t ⊙ dL/dc_t (+ the paths through h): with f_t near "
                        "0.5 the dc columns fall like 0.5^k, and the marked values, 25 or more steps back, send "
                        "the weights nothing to learn from")
    return _wrong({
        "b": "the cell path has no tanh: dL/dc_(t-1) = f_t ⊙ dL/dc_t, and the chrono LSTM has the same tanh and "
             "keeps its gradient. Compare the two LSTMs' dc columns",
        "c": "the output gate scales what enters the cell path from h_t, at every step alike; along the path "
             "itself only f_t multiplies, and the chrono LSTM has the same output gates",
        "d": "the two LSTMs have the same weights but for the gate biases, and the same budget: only one learns",
    }[choice])


__all__ = ["CLAMP_O1_CHOICES", "COUNT_CONFIG", "HOLD_STEPS", "PATH_LEFT", "PATH_STEPS", "SECOND_MARKER_CHOICES",
           "TORCH_DRAW_CHOICES", "Verdict", "check_cell_path_bias", "check_cifg_step", "check_clamp_o1",
           "check_forget_bias", "check_gate_rows", "check_grid_programs", "check_gru_step", "check_hold",
           "check_initial_loss", "check_lstm_step", "check_parameter_count", "check_second_marker",
           "check_torch_draw", "check_train_step"]
