r"""Why these four gates: the LSTM's variants, the plain RNN and the GRU, one step each.

Read after :mod:`scratch_lstm.gradient_flow`, with ``docs/why-gates.md`` and example 07; next,
:mod:`scratch_lstm.params` and example 02. Each function below is one time step written as plainly as
:func:`~scratch_lstm.lstm_step`, one equation a line, each with the paper it comes from. The LSTM
variants change one thing each, as Greff et al. ("LSTM: A Search Space Odyssey", 2017) changed
them to learn what each part buys (their vanilla cell had peepholes; ours is ``nn.LSTM``'s, without)::

    vanilla   the cell of cell.py (lstm_step), nn.LSTM's: the 1997 LSTM with Gers et al.'s forget gate
    nig       no input gate:            i_t = 1
    nfg       no forget gate:           f_t = 1, so c_t = c_{t-1} + i_t ⊙ g_t (the 1997 LSTM)
    nog       no output gate:           o_t = 1, so h_t = tanh(c_t)
    niaf      no input activation:      g_t = z_g (no tanh)
    noaf      no output activation:     h_t = o_t ⊙ c_t (no tanh)
    cifg      coupled input and forget: i_t = 1 - f_t (the GRU's coupling)
    peephole  i_t and f_t see c_{t-1}, o_t sees c_t, through diagonal weights (Gers and Schmidhuber 2000)

Every variant keeps ``nn.LSTM``'s parameters and layout (``W_ih (4H, I)``, ``W_hh (4H, P)``, the
two biases, rows in the order i, f, g, o), so a state dict moves between them. A variant that
drops a gate leaves that gate's rows unused (their gradient is zero: :data:`VARIANTS` names them);
``peephole`` adds three vectors ``w_ci, w_cf, w_co (H,)`` per layer and direction.

**Lesions.** Every LSTM step here takes ``hold``, a function ``hold(gate, value) -> value`` applied
to each gate (``"i"``, ``"f"``, ``"g"``, ``"o"``) right after it is computed and to ``h_t``
(``"h"``) before any projection, so that ``c_t`` and ``h_t`` follow from the held gates.
:func:`free` holds nothing; :class:`scratch_lstm.GateClamp` builds the holds of a lesion.
:func:`vanilla_step` is :func:`~scratch_lstm.lstm_step` with these hold points (and equals it,
bit for bit, when nothing is held); a model runs it only under a lesion.

The plain RNN and the GRU have no cell state: :func:`rnn_step` and :func:`gru_step` take
``h_{t-1}`` alone, in ``nn.RNN``'s and ``nn.GRU``'s form (the GRU's rows are r, u, n); the first
returns ``h_t``, the second its gates and ``h_t`` (:class:`GRUStep`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .cell import LSTMStep, lstm_step

Hold = Callable[[str, Tensor], Tensor]  # hold(gate, value) -> the value the step goes on with
StepFunction = Callable[..., LSTMStep]  # lstm_step's signature: (x, h_prev, c_prev, w_ih, ..., w_hr)


def free(gate: str, value: Tensor) -> Tensor:
    """The hold of an intact cell: every gate keeps the value it computed."""
    return value


def gate_preactivations(x: Tensor, h_prev: Tensor, w_ih: Tensor, w_hh: Tensor,
                        b_ih: Tensor | None, b_hh: Tensor | None, gates: int = 4) -> tuple[Tensor, ...]:
    """``x W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh`` split into ``gates`` blocks ``(B, H)``, as in
    :func:`~scratch_lstm.lstm_step` (the blocks in the rows' order: i, f, g, o for an LSTM)."""
    z = x @ w_ih.T + h_prev @ w_hh.T  # (B, gates*H)
    if b_ih is not None:
        z = z + b_ih + b_hh  # (B, gates*H)
    return z.chunk(gates, dim=1)  # each (B, H)


def _step(i, f, g, o, c, h, w_hr, hold) -> LSTMStep:
    """The step's record, with ``h_t`` held (``"h"``) and then projected when ``w_hr`` is given."""
    h = hold("h", h)
    h_proj = h @ w_hr.T if w_hr is not None else None  # h_proj_t = W_hr h_t   (B, P)
    return LSTMStep(i, f, g, o, c, h, h_proj)


# ---- the LSTM and its variants --------------------------------------------------------------------
# Sources: Hochreiter and Schmidhuber 1997 (the cell, no forget gate); Gers, Schmidhuber and Cummins
# 2000 (the forget gate); Gers and Schmidhuber 2000, "Recurrent nets that time and count" (peepholes);
# Greff et al. 2017 (the variants' names and the experiment); Cho et al. 2014 (the GRU); Elman 1990
# (the plain RNN); nn.LSTM's, nn.GRU's and nn.RNN's documentation.

def vanilla_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, hold: Hold = free) -> LSTMStep:
    """``nn.LSTM``'s cell (:func:`~scratch_lstm.lstm_step`) with the hold points of a lesion."""
    z_i, z_f, z_g, z_o = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H)
    i = hold("i", torch.sigmoid(z_i))  # i_t = σ(z_i)          Hochreiter and Schmidhuber 1997
    f = hold("f", torch.sigmoid(z_f))  # f_t = σ(z_f)          Gers et al. 2000
    g = hold("g", torch.tanh(z_g))  # g_t = tanh(z_g)
    o = hold("o", torch.sigmoid(z_o))  # o_t = σ(z_o)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
    return _step(i, f, g, o, c, h, w_hr, hold)


def nig_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, hold: Hold = free) -> LSTMStep:
    """NIG, no input gate: every candidate is written in full (the i rows are unused)."""
    _, z_f, z_g, z_o = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H); z_i unused
    f = hold("f", torch.sigmoid(z_f))  # f_t = σ(z_f)
    g = hold("g", torch.tanh(z_g))  # g_t = tanh(z_g)
    i = hold("i", torch.ones_like(g))  # i_t = 1                Greff et al. 2017, NIG
    o = hold("o", torch.sigmoid(z_o))  # o_t = σ(z_o)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + g_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
    return _step(i, f, g, o, c, h, w_hr, hold)


def nfg_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, hold: Hold = free) -> LSTMStep:
    """NFG, no forget gate: the cell of 1997, whose memory only adds (the f rows are unused)."""
    z_i, _, z_g, z_o = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H); z_f unused
    i = hold("i", torch.sigmoid(z_i))  # i_t = σ(z_i)
    f = hold("f", torch.ones_like(i))  # f_t = 1                Hochreiter and Schmidhuber 1997
    g = hold("g", torch.tanh(z_g))  # g_t = tanh(z_g)
    o = hold("o", torch.sigmoid(z_o))  # o_t = σ(z_o)
    c = f * c_prev + i * g  # c_t = c_{t-1} + i_t ⊙ g_t  (the constant error carousel)
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
    return _step(i, f, g, o, c, h, w_hr, hold)


def nog_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, hold: Hold = free) -> LSTMStep:
    """NOG, no output gate: the whole squashed cell is shown (the o rows are unused)."""
    z_i, z_f, z_g, _ = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H); z_o unused
    i = hold("i", torch.sigmoid(z_i))  # i_t = σ(z_i)
    f = hold("f", torch.sigmoid(z_f))  # f_t = σ(z_f)
    g = hold("g", torch.tanh(z_g))  # g_t = tanh(z_g)
    o = hold("o", torch.ones_like(g))  # o_t = 1                Greff et al. 2017, NOG
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * torch.tanh(c)  # h_t = tanh(c_t)
    return _step(i, f, g, o, c, h, w_hr, hold)


def niaf_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, hold: Hold = free) -> LSTMStep:
    """NIAF, no input activation function: the candidate is the raw pre-activation, unbounded."""
    z_i, z_f, z_g, z_o = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H)
    i = hold("i", torch.sigmoid(z_i))  # i_t = σ(z_i)
    f = hold("f", torch.sigmoid(z_f))  # f_t = σ(z_f)
    g = hold("g", z_g)  # g_t = z_g                          Greff et al. 2017, NIAF
    o = hold("o", torch.sigmoid(z_o))  # o_t = σ(z_o)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
    return _step(i, f, g, o, c, h, w_hr, hold)


def noaf_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, hold: Hold = free) -> LSTMStep:
    """NOAF, no output activation function: the cell is shown unsquashed, so ``h_t`` is unbounded."""
    z_i, z_f, z_g, z_o = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H)
    i = hold("i", torch.sigmoid(z_i))  # i_t = σ(z_i)
    f = hold("f", torch.sigmoid(z_f))  # f_t = σ(z_f)
    g = hold("g", torch.tanh(z_g))  # g_t = tanh(z_g)
    o = hold("o", torch.sigmoid(z_o))  # o_t = σ(z_o)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * c  # h_t = o_t ⊙ c_t                             Greff et al. 2017, NOAF
    return _step(i, f, g, o, c, h, w_hr, hold)


def cifg_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, hold: Hold = free) -> LSTMStep:
    """CIFG, coupled input and forget gate: what is forgotten is what is written (the i rows are
    unused); a held ``f`` is what ``i`` is computed from."""
    _, z_f, z_g, z_o = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H); z_i unused
    f = hold("f", torch.sigmoid(z_f))  # f_t = σ(z_f)
    i = hold("i", 1 - f)  # i_t = 1 - f_t     CIFG, Greff et al. 2017 (who write f = 1 - i); as the GRU
    g = hold("g", torch.tanh(z_g))  # g_t = tanh(z_g)
    o = hold("o", torch.sigmoid(z_o))  # o_t = σ(z_o)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + (1 - f_t) ⊙ g_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
    return _step(i, f, g, o, c, h, w_hr, hold)


def peephole_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, w_ci: Tensor,
                  w_cf: Tensor, w_co: Tensor, hold: Hold = free) -> LSTMStep:
    """Peepholes: the gates also read the cell, through diagonal weights ``w_ci, w_cf, w_co (H,)``
    (elementwise products, not matrices); ``o_t`` reads the new cell ``c_t``."""
    z_i, z_f, z_g, z_o = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh)  # each (B, H)
    i = hold("i", torch.sigmoid(z_i + w_ci * c_prev))  # i_t = σ(z_i + w_ci ⊙ c_{t-1})   Gers and Schmidhuber 2000
    f = hold("f", torch.sigmoid(z_f + w_cf * c_prev))  # f_t = σ(z_f + w_cf ⊙ c_{t-1})   Gers and Schmidhuber 2000
    g = hold("g", torch.tanh(z_g))  # g_t = tanh(z_g)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o = hold("o", torch.sigmoid(z_o + w_co * c))  # o_t = σ(z_o + w_co ⊙ c_t)        Gers and Schmidhuber 2000
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
    return _step(i, f, g, o, c, h, w_hr, hold)


@dataclass(frozen=True)
class Variant:
    """One LSTM variant: its step function, the gates whose rows it leaves unused, the parameters
    it adds to ``nn.LSTM``'s (registered as ``{name}_l{k}``, each ``(H,)``), and a one-line summary."""

    step: StepFunction
    unused_gates: tuple[str, ...]
    added: tuple[str, ...]
    text: str


VARIANTS: dict[str, Variant] = {
    "vanilla": Variant(vanilla_step, (), (), "nn.LSTM's cell (lstm_step)"),
    "nig": Variant(nig_step, ("i",), (), "no input gate: i = 1"),
    "nfg": Variant(nfg_step, ("f",), (), "no forget gate: f = 1, c_t = c_{t-1} + i ⊙ g (the 1997 LSTM)"),
    "nog": Variant(nog_step, ("o",), (), "no output gate: o = 1"),
    "niaf": Variant(niaf_step, (), (), "no input activation: g = z_g, no tanh"),
    "noaf": Variant(noaf_step, (), (), "no output activation: h = o ⊙ c, no tanh"),
    "cifg": Variant(cifg_step, ("i",), (), "coupled input and forget gate: i = 1 - f"),
    "peephole": Variant(peephole_step, (), ("weight_ci", "weight_cf", "weight_co"),
                        "peepholes: i and f see c_{t-1}, o sees c_t (diagonal weights)"),
}  # every variant of LSTM(variant=...), vanilla first


def check_variant(variant: str) -> None:
    """``ValueError`` unless ``variant`` is one of :data:`VARIANTS` (a name: a list is no variant)."""
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")


def variant_step(variant: str = "vanilla", hold: Hold | None = None,
                 peepholes: tuple[Tensor, Tensor, Tensor] | None = None) -> StepFunction:
    """The step function of ``variant`` with ``hold`` (``None``: nothing held), called as
    :func:`~scratch_lstm.lstm_step` is: ``step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, w_hr)``.

    The vanilla cell with nothing held is :func:`~scratch_lstm.lstm_step` itself. ``peepholes``
    are the ``(w_ci, w_cf, w_co)`` of one layer and direction, for ``"peephole"`` only.
    """
    check_variant(variant)
    if (peepholes is not None) != (variant == "peephole"):
        raise ValueError(f"peepholes are the weights of variant 'peephole' only, not of {variant!r}")
    if variant == "vanilla" and hold is None:
        return lstm_step
    step, hold = VARIANTS[variant].step, hold or free

    def held_step(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None) -> LSTMStep:
        if peepholes is None:
            return step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, w_hr, hold=hold)
        w_ci, w_cf, w_co = peepholes
        return step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, w_hr, w_ci=w_ci, w_cf=w_cf, w_co=w_co, hold=hold)

    held_step.__name__ = held_step.__qualname__ = f"{step.__name__}_held"
    return held_step


# ---- the plain RNN and the GRU ----------------------------------------------------------------------

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}  # nn.RNN's choices


def rnn_step(x: Tensor, h_prev: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, nonlinearity: str = "tanh") -> Tensor:
    """One step of the plain (Elman) RNN, ``nn.RNN``'s: ``h_t (B, H)`` from ``x (B, I)`` and
    ``h_prev (B, H)``; ``w_ih (H, I)``, ``w_hh (H, H)``, ``b_ih, b_hh (H,)``.

    Why its gradient from far back vanishes or explodes: ``docs/why-lstm.md``, section 5.
    """
    (z,) = gate_preactivations(x, h_prev, w_ih, w_hh, b_ih, b_hh, gates=1)  # (B, H)
    return NONLINEARITIES[nonlinearity](z)  # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)   Elman 1990


class GRUStep(NamedTuple):
    """Everything one GRU step computes, each ``(B, H)``: reset gate ``r``, update gate ``u``,
    candidate ``n`` and the new hidden state ``h`` (which :attr:`state` passes on).

    ``nn.GRU``'s documentation calls the update gate ``z``; :attr:`z` is the same tensor.
    """

    r: Tensor
    u: Tensor
    n: Tensor
    h: Tensor

    @property
    def z(self) -> Tensor:
        """The update gate under ``nn.GRU``'s name: :attr:`u`."""
        return self.u

    @property
    def state(self) -> Tensor:
        """The hidden state passed on: ``h``."""
        return self.h


def gru_step(x: Tensor, h_prev: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> GRUStep:
    """One GRU step (Cho et al. 2014) in ``nn.GRU``'s form: ``w_ih (3H, I)`` and ``w_hh (3H, H)``
    hold the rows of r, u, n in that order, ``b_ih, b_hh (3H,)`` likewise.

    The equations name each block by its gate, ``W_ih^r`` for the r rows of ``W_ih`` and so on.
    ``nn.GRU``'s documentation writes W_ir, W_hr, W_iz, W_hz, W_in, W_hn and z_t for the update gate;
    here they are W_ih^r, W_hh^r, W_ih^u, W_hh^u, W_ih^n, W_hh^n and u_t, so that W_hr stays the
    LSTM's projection and z_t its pre-activation (cell.py's notation).

    Unlike :func:`gate_preactivations`, the two products stay apart: the reset gate multiplies the
    recurrent part of ``n`` only, bias included (``nn.GRU``'s form; Cho et al. put ``r`` before
    the product, ``W_hh^n (r ⊙ h)``).
    """
    gx = x @ w_ih.T + (b_ih if b_ih is not None else 0)  # (B, 3H): W_ih x_t + b_ih, blocks [r | u | n]
    gh = h_prev @ w_hh.T + (b_hh if b_hh is not None else 0)  # (B, 3H): W_hh h_{t-1} + b_hh
    gx_r, gx_u, gx_n = gx.chunk(3, dim=1)  # each (B, H)
    gh_r, gh_u, gh_n = gh.chunk(3, dim=1)  # each (B, H)
    r = torch.sigmoid(gx_r + gh_r)  # r_t = σ(W_ih^r x_t + b_ih^r + W_hh^r h_{t-1} + b_hh^r)   reset gate
    u = torch.sigmoid(gx_u + gh_u)  # u_t = σ(W_ih^u x_t + b_ih^u + W_hh^u h_{t-1} + b_hh^u)   update gate
    n = torch.tanh(gx_n + r * gh_n)  # n_t = tanh(W_ih^n x_t + b_ih^n + r_t ⊙ (W_hh^n h_{t-1} + b_hh^n))
    h = (1 - u) * n + u * h_prev  # h_t = (1 - u_t) ⊙ n_t + u_t ⊙ h_{t-1}
    return GRUStep(r, u, n, h)


__all__ = ["GRUStep", "VARIANTS", "Variant", "cifg_step", "free", "gru_step", "nfg_step", "niaf_step",
           "noaf_step", "nog_step", "nig_step", "peephole_step", "rnn_step", "vanilla_step", "variant_step"]
