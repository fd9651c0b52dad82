"""Instruments for studying the gates: traces of every gate at every step, named weight views,
and the forget-gate initialisations that ``nn.LSTM`` lacks.

On the reading path this comes after :mod:`scratch_lstm.params` (example 02) and goes with
``examples/05_gates.py``, which traces the gates of a trained model, and the gate explorer
(``docs/explorer.md``); next, the engineering: :mod:`scratch_lstm.lstm`. Why the forget gate's
bias sets how long a unit remembers, ``1 / (1 - f)`` steps (:func:`forgetting_times`):
``docs/why-lstm.md``, section 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .cell import LSTMCell
from .lstm import LSTM
from .params import GATES


@dataclass
class GateTrace:
    """The gates and states of one layer and direction at every time step.

    Each tensor is ``(T, B, H)`` (``(B, T, H)`` with ``batch_first``; ``(T, H)`` for unbatched
    input), indexed in the input's time order for both directions:
    ``c[t] = f[t] * c_prev + i[t] * g[t]`` and ``h[t] = o[t] * tanh(c[t])``, where ``c_prev``
    is ``c[t-1]`` going forward and ``c[t+1]`` in the reverse direction. With projection,
    ``h_proj[t] = h[t] @ W_hr.T`` is what the next step and layer receive; else ``h_proj`` is None.
    """

    layer: int
    direction: str  # "forward" or "reverse"
    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    h: Tensor
    h_proj: Tensor | None

    def __getitem__(self, key: str) -> Tensor | None:
        return getattr(self, key)


def trace_gates(lstm: LSTM | nn.LSTM, input: Tensor, hx=None, clamps=()) -> list[GateTrace]:
    """Run ``lstm`` on ``input`` and return every gate of every step, one record per layer and
    direction in ``nn.LSTM``'s order (layer 0 forward, layer 0 reverse, layer 1 forward, ...).

    The values come from the same code as the forward pass (:func:`scratch_lstm.lstm_step`,
    even for ``impl="fused"``, or the LSTM's variant). An ``nn.LSTM`` is traced through a scratch
    copy of itself. ``clamps`` (:class:`scratch_lstm.GateClamp`) trace a lesioned run: the held
    gates show their held values. Padded or unbatched tensors only: pad a
    :class:`PackedSequence` first.
    """
    if isinstance(lstm, nn.LSTM):
        from .convert import from_torch

        lstm = from_torch(lstm)
    if not isinstance(lstm, LSTM):
        raise TypeError(f"trace_gates expects scratch_lstm.LSTM or nn.LSTM, got {type(lstm).__name__}")
    if isinstance(input, PackedSequence):
        raise TypeError("trace_gates takes padded input; use torch.nn.utils.rnn.pad_packed_sequence first")
    steps_per_direction: list[list] = []
    lstm(input, hx, trace=steps_per_direction, clamps=clamps)  # the forward's public gate-tracing hook
    unbatched = input.dim() == 2
    D = 2 if lstm.bidirectional else 1
    records = []
    for k, steps in enumerate(steps_per_direction):
        def stack(field, steps=steps):
            t = torch.stack([getattr(s, field) for s in steps])  # (T, B, ·)
            if unbatched:
                return t.squeeze(1)  # (T, ·)
            return t.transpose(0, 1) if lstm.batch_first else t  # (B, T, ·)
        records.append(GateTrace(
            layer=k // D, direction="reverse" if k % D else "forward",
            **{name: stack(name) for name in ("i", "f", "g", "o", "c", "h")},
            h_proj=stack("h_proj") if lstm.proj_size > 0 else None,
        ))
    return records


def gate_weights(module: LSTM | LSTMCell | nn.LSTM | nn.LSTMCell, layer: int = 0,
                 reverse: bool = False) -> dict[str, Tensor]:
    """The textbook names of the stacked parameters, as views (writes go into the module).

    Keys ``W_ii, W_if, W_ig, W_io`` (input weights, ``(H, I)``), ``W_hi ... W_ho`` (recurrent,
    ``(H, P)``), ``b_ii ... b_io`` and ``b_hi ... b_ho`` (``(H,)``, when there is a bias) and
    ``W_hr`` (``(P, H)``, with projection). ``W_if`` is rows ``H:2H`` of ``weight_ih_l{layer}``.
    """
    if isinstance(module, (LSTMCell, nn.LSTMCell)):
        if layer != 0 or reverse:
            raise ValueError("an LSTMCell has one layer and one direction")
        sfx = ""
    else:
        if not 0 <= layer < module.num_layers:
            raise ValueError(f"layer must be in 0..{module.num_layers - 1}, got {layer}")
        if reverse and not module.bidirectional:
            raise ValueError("reverse=True needs a bidirectional LSTM")
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    views = {}
    for stacked, prefix in (("weight_ih", "W_i"), ("weight_hh", "W_h"), ("bias_ih", "b_i"),
                            ("bias_hh", "b_h")):
        tensor = getattr(module, stacked + sfx, None)
        if tensor is None:
            continue
        for gate, block in zip(GATES, tensor.chunk(4, dim=0)):
            views[prefix + gate] = block
    w_hr = getattr(module, "weight_hr" + sfx, None)
    if w_hr is not None:
        views["W_hr"] = w_hr
    return views


def _forget_and_input_biases(lstm):
    """Yield ``(bias_ih, bias_hh)`` of every layer and direction."""
    if not lstm.bias:
        raise ValueError("the LSTM has no biases (bias=False); nothing to initialise")
    for name, b_ih in lstm.named_parameters():
        if name.startswith("bias_ih"):
            yield b_ih, getattr(lstm, "bias_hh" + name[len("bias_ih"):])


@torch.no_grad()
def init_forget_bias(lstm: LSTM | nn.LSTM | LSTMCell | nn.LSTMCell, value: float = 1.0) -> None:
    """Set every forget-gate bias so that ``b_if + b_hf = value`` (``b_hf = 0``).

    The common ``b_f = 1`` start (Gers et al. 2000; Jozefowicz et al. 2015): the cell keeps its
    memory by default early in training. ``nn.LSTM`` has no such option (pytorch issue #20102).
    """
    if not math.isfinite(value):
        raise ValueError(f"the forget-gate bias must be a finite number, got {value}")
    for b_ih, b_hh in _forget_and_input_biases(lstm):
        if abs(value) > torch.finfo(b_ih.dtype).max:
            raise ValueError(f"the forget-gate bias {value} is too large for the biases: "
                             f"{str(b_ih.dtype).removeprefix('torch.')} cannot hold it")
        H = b_ih.numel() // 4
        b_ih[H : 2 * H] = value
        b_hh[H : 2 * H] = 0.0


CHRONO_MIN_T_MAX = 3  # chrono_init's smallest t_max: it draws from U(1, t_max - 1)


@torch.no_grad()
def chrono_init(lstm: LSTM | nn.LSTM | LSTMCell | nn.LSTMCell, t_max: int,
                generator: torch.Generator | None = None) -> None:
    """Chrono initialisation (Tallec & Ollivier 2018): ``b_f = log u``, ``u ~ U(1, t_max - 1)``, ``b_i = -b_f``.

    Spreads the units' characteristic forgetting times, ``1 / (1 - σ(b_f)) = 1 + u``
    (:func:`forgetting_times`), over ``2 .. t_max`` steps, for inputs with dependencies up to
    ``t_max`` steps long (e.g. 784 for pixel-level MNIST). ``b_hi`` and ``b_hf`` are zeroed so
    the sums equal the drawn values.
    """
    if not t_max >= CHRONO_MIN_T_MAX:
        raise ValueError(f"chrono_init needs t_max >= {CHRONO_MIN_T_MAX}, got {t_max}")
    for b_ih, b_hh in _forget_and_input_biases(lstm):
        H = b_ih.numel() // 4
        u = torch.rand(H, generator=generator, dtype=torch.float64) * (t_max - 2) + 1
        b_f = torch.log(u).to(b_ih)
        b_ih[H : 2 * H] = b_f
        b_ih[:H] = -b_f
        b_hh[: 2 * H] = 0.0


INITS = {
    "default": "nn.LSTM's: every weight and bias from U(-1/sqrt(H), 1/sqrt(H))",
    "forget-bias": "then every forget-gate bias b_f = b_if + b_hf set to one value (init_forget_bias)",
    "chrono": "then b_f ~ log U(1, t_max - 1) and b_i = -b_f (chrono_init)",
}  # the named initialisations of init_gates, with what each does


def init_gates(lstm: LSTM | nn.LSTM | LSTMCell | nn.LSTMCell, init: str, *,
               forget_bias: float | None = None, t_max: int | None = None,
               generator: torch.Generator | None = None) -> None:
    """Apply the initialisation named ``init`` (one of :data:`INITS`) to a freshly drawn LSTM.

    ``"default"`` leaves ``nn.LSTM``'s draw as it is; ``"forget-bias"`` calls
    :func:`init_forget_bias` with ``forget_bias`` (1.0 when None); ``"chrono"`` calls
    :func:`chrono_init` with ``t_max`` (the longest dependency to span, e.g. the sequence length;
    required) and ``generator``. Only the gate biases change, so the same weights result on every
    implementation. ``ValueError`` for an unknown name, a value the init does not use, a
    non-finite bias or a ``t_max`` below 3.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {tuple(INITS)}, got {init!r}")
    if forget_bias is not None and init != "forget-bias":
        raise ValueError(f"forget_bias is used by init='forget-bias' only, not by init={init!r}")
    if t_max is not None and init != "chrono":
        raise ValueError(f"t_max is used by init='chrono' only, not by init={init!r}")
    if init == "forget-bias":
        init_forget_bias(lstm, 1.0 if forget_bias is None else forget_bias)
    elif init == "chrono":
        if t_max is None:
            raise ValueError("init='chrono' needs t_max: the longest dependency in steps (e.g. the "
                             "sequence length)")
        chrono_init(lstm, t_max, generator)


@torch.no_grad()
def forgetting_times(lstm: LSTM | nn.LSTM | LSTMCell | nn.LSTMCell) -> Tensor:
    """Each unit's characteristic forgetting time ``1 / (1 - σ(b_if + b_hf))`` in steps, ``(K*D, H)``
    (rows in ``nn.LSTM``'s order: layer 0 forward, layer 0 reverse, ...; one row for a cell).

    With no input and no hidden state the forget gate is ``f = σ(b_f)`` and the cell keeps
    ``f^t`` of its content after ``t`` steps: about ``1/(1 - f)`` steps of memory (Tallec and
    Ollivier 2018). It is 2 steps for ``b_f = 0``, near which ``nn.LSTM``'s draw puts every unit;
    chrono spreads it over ``2 .. t_max``.
    """
    rows = []
    for b_ih, b_hh in _forget_and_input_biases(lstm):
        H = b_ih.numel() // 4
        b_f = (b_ih[H : 2 * H] + b_hh[H : 2 * H]).double()  # (H,)
        rows.append(1 + torch.exp(b_f))  # 1/(1 - σ(b)) = 1 + e^b (exact where σ(b) rounds to 1)
    return torch.stack(rows)


def saturation(traces: list[GateTrace], eps: float = 0.05) -> dict[str, dict[str, float]]:
    """Share of gate values near their limits, per record (``"l0_forward"``...) and gate.

    For the sigmoid gates i, f, o: share below ``eps`` (closed) and above ``1 - eps`` (open);
    for g (tanh): share with ``|g| > 1 - eps``.
    """
    stats = {}
    for rec in traces:
        key = f"l{rec.layer}_{rec.direction}"
        entry = {}
        for gate in ("i", "f", "o"):
            v = rec[gate].detach()
            entry[f"{gate}_closed"] = (v < eps).double().mean().item()
            entry[f"{gate}_open"] = (v > 1 - eps).double().mean().item()
        entry["g_saturated"] = (rec.g.detach().abs() > 1 - eps).double().mean().item()
        stats[key] = entry
    return stats


__all__ = ["GateTrace", "INITS", "trace_gates", "gate_weights", "init_forget_bias", "chrono_init", "init_gates",
           "forgetting_times", "saturation"]
