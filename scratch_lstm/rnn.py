"""The plain RNN and the GRU as modules: drop-in replacements for ``torch.nn.RNN`` and ``torch.nn.GRU``.

Read after :mod:`scratch_lstm.lstm` and :mod:`scratch_lstm.variants`. The steps are
:func:`~scratch_lstm.variants.rnn_step` and :func:`~scratch_lstm.variants.gru_step`; the rest is
the LSTM's: the parameters and the loop over layers and directions
(:class:`~scratch_lstm.lstm.RNNBase`), the input checks (:mod:`scratch_lstm.checks`) and the loop
over time (:func:`~scratch_lstm.lstm_layer`), which these cells run with an empty ``(B, 0)`` cell
state carried along, so packed input and the reverse direction come from the same bookkeeping.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from torch import Tensor

from .checks import lstm_input, rnn_state
from .lstm import RNNBase
from .variants import NONLINEARITIES, gru_step, rnn_step


class _Stateless(NamedTuple):
    """A step of a cell without a cell state, as :func:`~scratch_lstm.lstm_layer` reads it."""

    state: Tensor  # h_t (B, H)
    c: Tensor  # the empty cell state (B, 0), passed through


def _rnn_cell(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, nonlinearity="tanh"):
    return _Stateless(rnn_step(x, h_prev, w_ih, w_hh, b_ih, b_hh, nonlinearity), c_prev)


def _gru_cell(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None) -> _Stateless:
    return _Stateless(gru_step(x, h_prev, w_ih, w_hh, b_ih, b_hh).h, c_prev)


class _OneState(RNNBase):
    """The forward of a stack whose cell has one state ``h`` (``nn.RNN``'s and ``nn.GRU``'s)."""

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                 device, dtype, proj_size) -> None:
        if proj_size:  # torch.nn's words: a projection is the LSTM's alone
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)

    def forward(self, input, hx: Tensor | None = None):
        """Run the stack; ``output`` as ``nn.LSTM``'s, ``h_n (K*D, B, H)`` (``(K*D, H)`` unbatched)."""
        seq = lstm_input(self, input)  # time-major x (T, B, I), or packed data (sum B_t, I)
        h0 = rnn_state(self, hx, seq)  # (K*D, B, H)
        no_cell = h0.new_zeros(*h0.shape[:2], 0)  # (K*D, B, 0): the loop's cell state, empty
        cells = [self.cell()] * h0.size(0)  # the subclass's step, as lstm_layer calls it
        output, h_n, _ = self._run(seq, h0, no_cell, cells=cells)
        output, (h_n, _) = seq.results(output, h_n, h_n, self.batch_first)  # the input's form again
        return output, h_n


class RNN(_OneState):
    r"""A drop-in replacement for :class:`torch.nn.RNN` (Elman's RNN), computed by
    :func:`~scratch_lstm.variants.rnn_step`: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Same constructor (``nonlinearity`` ``"tanh"`` or ``"relu"``; no ``proj_size``), parameters
    (``weight_ih_l{k}`` ``(H, I_k)``, ``weight_hh_l{k}`` ``(H, H)``, ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` ``(H,)``, ``_reverse`` twins, in ``nn.RNN``'s order and initialisation) and
    forward contract: ``forward(input, hx=None) -> (output, h_n)`` for ``(T, B, I)``,
    ``(B, T, I)`` with ``batch_first``, unbatched ``(T, I)`` or a packed sequence, with
    ``hx = h_0 (K*D, B, H)``. So ``load_state_dict`` works both ways with ``strict=True``. It runs
    the teaching path only.
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None, *, proj_size: int = 0) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype, proj_size)
        self.nonlinearity = nonlinearity

    def cell(self):
        """The step :func:`~scratch_lstm.lstm_layer` runs: :func:`~scratch_lstm.variants.rnn_step`."""
        return functools.partial(_rnn_cell, nonlinearity=self.nonlinearity)

    def extra_repr(self) -> str:
        """The arguments that differ from the defaults (``nonlinearity`` too, unlike torch's)."""
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class GRU(_OneState):
    r"""A drop-in replacement for :class:`torch.nn.GRU` (Cho et al. 2014), computed by
    :func:`~scratch_lstm.variants.gru_step`.

    Same constructor (no ``proj_size``), parameters (``weight_ih_l{k}`` ``(3H, I_k)``,
    ``weight_hh_l{k}`` ``(3H, H)``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` ``(3H,)``, the rows of the
    reset gate r, the update gate u (``nn.GRU``'s z) and the candidate n in that order, ``_reverse`` twins, in
    ``nn.GRU``'s order and initialisation) and forward contract, as :class:`RNN`. It runs the
    teaching path only.
    """

    gates = 3

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, proj_size: int = 0) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device, dtype, proj_size)

    def cell(self):
        """The step :func:`~scratch_lstm.lstm_layer` runs: :func:`~scratch_lstm.variants.gru_step`."""
        return _gru_cell


__all__ = ["GRU", "RNN"]
