"""One LSTM time step, written as the gate equations. Read this file first.

**Why an LSTM works**, in short (the story and the proof, with the derivatives checked:
``docs/why-lstm.md``). A plain RNN, ``h_t = tanh(z_t)`` with ``z_t = W_ih x_t + b_ih + W_hh h_{t-1}
+ b_hh``, sends the gradient from ``h_t`` to ``h_{t-1}`` through ``W_hhᵀ`` and a tanh derivative
at every step, so from far back it vanishes or explodes geometrically. The LSTM adds a cell state
that is updated by an addition, ``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t``, so along the cell
``∂c_t/∂c_{t-1} = diag(f_t)``: no weight matrix, no squashing derivative, only the forget gate,
which the network can hold near 1 for as long as it must remember. The gates ``i, f, o`` are
sigmoids, factors in (0, 1): how much to write, keep and show; the candidate ``g`` and
``tanh(c_t)`` are tanh, signed values: ``g`` can add or subtract, and ``h_t`` stays in (-1, 1)
however large ``c_t`` grows.

**Notation**, the one every file, comment, example and kernel of the project uses::

    t = 0 .. T-1     the time steps; step t reads x_t, h_{t-1}, c_{t-1} and computes h_t, c_t
    h_{-1}, c_{-1}   the initial state: the arguments h0, c0 (nn.LSTM's hx = (h_0, c_0)), zeros
                     when omitted; the final state h_n, c_n is h_{T-1}, c_{T-1}
    B  batch rows     I  input features     H  hidden units (the size of c_t and h_t)
    P  the size of the state passed on: proj_size, or H without projection
    K  layers         D  directions: 2 if bidirectional else 1

    x_t        (B, I)    input at step t
    h_{t-1}    (B, P)    the previous step's hidden state (with projection: its h_proj)
    c_{t-1}    (B, H)    the previous step's cell state
    W_ih       (4H, I)   input weights of the four gates, stacked as rows [W_ii; W_if; W_ig; W_io]
    W_hh       (4H, P)   recurrent weights, stacked the same way [W_hi; W_hf; W_hg; W_ho]
    b_ih, b_hh (4H,)     the two bias vectors, stacked the same way [b_ii; ...] and [b_hi; ...]
    z_t        (B, 4H)   the pre-activations of the four gates [z_i | z_f | z_g | z_o]
    i_t, f_t, g_t, o_t (B, H)   the input, forget, candidate ("cell gate") and output gates
    c_t, h_t   (B, H)    the new cell state and hidden state, h_t = o_t ⊙ tanh(c_t)
    W_hr       (P, H)    optional projection (LSTMP, proj_size > 0): h_proj_t = W_hr h_t, (B, P),
                         is passed on in place of h_t (as the output y_t and the next h_{t-1})
    y_t        (B, P)    the layer's output at step t: h_t, or h_proj_t with projection

The equations are ``torch.nn.LSTM``'s, one beside each line of :func:`lstm_step` below: σ is the
logistic sigmoid ``1 / (1 + e^{-z})`` and ⊙ the elementwise product. **One vector convention**:
the equations are written for one column vector (``W x``); the code holds a batch as rows, ``x``
is ``(B, I)``, and computes ``x @ W.T``, written ``x Wᵀ`` where a comment shows the code's form:
the same numbers. The reverse direction of a bidirectional layer
runs t = T-1 .. 0, so there step t reads ``h_{t+1}``, ``c_{t+1}`` (swap t-1 and t+1 throughout).
``nn.LSTM``'s documentation writes N and L for B and T; the lecture writes N, L, Q and D for B, T,
I and H.

On the reading path (listed in :mod:`scratch_lstm`) this comes after
``examples/01_hand_wired_memory.py``, an LSTM of one unit wired by hand; next,
:mod:`scratch_lstm.layer`, the loop over time. Everything else is built on :func:`lstm_step`:
the loop, the stacked and bidirectional model (:mod:`scratch_lstm.lstm`) and the gate traces
call it for the arithmetic; the fast paths (:mod:`scratch_lstm.fused`,
:mod:`scratch_lstm.triton_lstm`) compute the same equations rearranged for speed and are tested
against it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .autocast import autocast_cell_dtype
from .checks import NoTorchScript, cell_input, cell_state, check_cell_arguments


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
    z = x @ w_ih.T + h_prev @ w_hh.T  # z_t = x_t W_ihᵀ + h_{t-1} W_hhᵀ   (B, 4H) = [z_i | z_f | z_g | z_o]
    if b_ih is not None:
        z = z + b_ih + b_hh  # z_t += b_ih + b_hh   (B, 4H)
    z_i, z_f, z_g, z_o = z.chunk(4, dim=1)  # each (B, H)

    i = torch.sigmoid(z_i)  # i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    f = torch.sigmoid(z_f)  # f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g = torch.tanh(z_g)  # g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    o = torch.sigmoid(z_o)  # o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)

    h_proj = h @ w_hr.T if w_hr is not None else None  # h_proj_t = W_hr h_t   (B, P)
    return LSTMStep(i, f, g, o, c, h, h_proj)


class LSTMCell(NoTorchScript, nn.Module):
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
