"""One LSTM time step, written as the gate equations.

Read this file first. The teaching path is built from :func:`lstm_step`: the loop over time
(:mod:`scratch_lstm.layer`), the stacked and bidirectional model (:mod:`scratch_lstm.lstm`) and
the gate traces all call it for the arithmetic. The fast paths (:mod:`scratch_lstm.fused`,
:mod:`scratch_lstm.triton_lstm`) compute the same equations rearranged for speed, and are
tested against it.

Notation (as in the ``torch.nn.LSTM`` documentation), for a batch of ``B`` rows::

    x_t      (B, I)   input at step t
    h_{t-1}  (B, H)   previous hidden state (size P = proj_size when projecting)
    c_{t-1}  (B, H)   previous cell state
    W_ih     (4H, I)  input weights of the four gates, stacked as rows [W_ii; W_if; W_ig; W_io]
    W_hh     (4H, H)  recurrent weights, stacked the same way [W_hi; W_hf; W_hg; W_ho]
    b_ih, b_hh (4H)   the two bias vectors, stacked the same way
    W_hr     (P, H)   optional projection of the hidden state (LSTMP, ``proj_size > 0``)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .autocast import autocast_cell_dtype
from .checks import cell_input, cell_state, check_cell_arguments


class LSTMStep(NamedTuple):
    """Everything one LSTM step computes, each ``(B, H)`` unless noted.

    ``h`` is always ``o ⊙ tanh(c)``. ``h_proj`` is ``W_hr h`` (``(B, P)``) when the LSTM
    projects, else ``None``. :attr:`state` is the hidden state the next step and layer receive.
    """

    i: Tensor  # input gate
    f: Tensor  # forget gate
    g: Tensor  # candidate cell ("cell gate")
    o: Tensor  # output gate
    c: Tensor  # new cell state
    h: Tensor  # new hidden state before projection
    h_proj: Tensor | None  # projected hidden state, or None

    @property
    def state(self) -> Tensor:
        """The hidden state passed on: ``h_proj`` when projecting, else ``h``."""
        return self.h if self.h_proj is None else self.h_proj


def lstm_step(
    x: Tensor,
    h_prev: Tensor,
    c_prev: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
) -> LSTMStep:
    """Compute one LSTM step from ``x (B, I)``, ``h_prev (B, H or P)``, ``c_prev (B, H)``.

    The four gate pre-activations come from one matrix product each for the input and the
    recurrent weights (their rows are the four gates stacked in the order i, f, g, o, as in
    ``torch.nn.LSTM``), then split into four ``(B, H)`` blocks.
    """
    z = x @ w_ih.T + h_prev @ w_hh.T  # (B, 4H) = [z_i | z_f | z_g | z_o]
    if b_ih is not None:
        z = z + b_ih + b_hh  # (B, 4H)
    z_i, z_f, z_g, z_o = z.chunk(4, dim=1)  # each (B, H)

    i = torch.sigmoid(z_i)  # i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    f = torch.sigmoid(z_f)  # f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g = torch.tanh(z_g)  # g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    o = torch.sigmoid(z_o)  # o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)

    h_proj = h @ w_hr.T if w_hr is not None else None  # h_t ← W_hr h_t   (B, P)
    return LSTMStep(i, f, g, o, c, h, h_proj)


class LSTMCell(nn.Module):
    r"""A drop-in replacement for :class:`torch.nn.LSTMCell`, computed from the gate equations.

    Parameters carry ``nn.LSTMCell``'s names, shapes, gate order (i, f, g, o) and
    initialisation ``U(-1/sqrt(H), 1/sqrt(H))``, so state dicts load both ways (strict).

    Args:
        input_size: features ``I`` of the input ``x``.
        hidden_size: features ``H`` of the hidden and cell states.
        bias: if ``False``, no ``bias_ih``/``bias_hh`` (registered as ``None``, like torch).

    Shapes: ``input`` is ``(B, I)`` or unbatched ``(I,)``; ``hx = (h, c)`` each ``(B, H)`` or
    ``(H,)``, zeros when omitted. Returns ``(h', c')`` with the same batching as ``input``.
    Under ``torch.autocast`` it returns ``nn.LSTMCell``'s dtypes (:mod:`scratch_lstm.autocast`).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        check_cell_arguments(input_size, hidden_size, bias)  # nn.LSTMCell's, in checks.py
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * H, input_size, **factory))  # (4H, I)
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H, **factory))  # (4H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * H, **factory))  # (4H,)
            self.bias_hh = nn.Parameter(torch.empty(4 * H, **factory))  # (4H,)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(H), 1/sqrt(H))``, as ``nn.LSTMCell`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        """The arguments that differ from the defaults, as in torch's repr."""
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias is True else s + f", bias={self.bias}"

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """One step: ``(h', c') = LSTMCell(x, (h, c))``. See the class docstring for shapes."""
        cell_input(self, input)  # nn.LSTMCell's checks (checks.py)
        is_batched = input.dim() == 2
        x = input if is_batched else input.unsqueeze(0)  # (B, I)
        h, c = cell_state(self, hx, x, is_batched)  # (B, H) each: zeros, or hx checked
        autocast_dtype = autocast_cell_dtype(x.device.type, self.weight_ih.dtype, c.dtype)
        step = lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        h, c = step.h, step.c
        if autocast_dtype is not None:  # under autocast: nn.LSTMCell's dtype (None otherwise)
            h, c = h.to(autocast_dtype), c.to(autocast_dtype)
        if not is_batched:
            return h.squeeze(0), c.squeeze(0)
        return h, c
