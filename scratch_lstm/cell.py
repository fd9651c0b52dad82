"""One LSTM time step, written as the gate equations.

Read this file first. Everything else in the package (the layer loop, the stacked and
bidirectional model, the gate traces) calls :func:`lstm_step` for the arithmetic.

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

from .modes import autocast_accepts, autocast_cell_dtype, autocast_note


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
    Under ``torch.autocast`` it returns ``nn.LSTMCell``'s dtypes (:mod:`scratch_lstm.modes`).
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
        _check_argument_types(
            ints={"input_size": input_size, "hidden_size": hidden_size}, bools={"bias": bias}
        )
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if value < 0:  # nn.LSTMCell accepts 0 (an empty weight), so this does too
                raise ValueError(f"LSTMCell: {name} must be zero or more, got {value}")
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
        self._check_input(input)
        is_batched = input.dim() == 2
        x = input if is_batched else input.unsqueeze(0)  # (B, I)
        h, c = self._state(hx, x, is_batched)  # (B, H) each
        autocast_dtype = autocast_cell_dtype(x.device.type, self.weight_ih.dtype, c.dtype)
        step = lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        h, c = step.h, step.c
        if autocast_dtype is not None:  # under autocast: nn.LSTMCell's dtype (None otherwise)
            h, c = h.to(autocast_dtype), c.to(autocast_dtype)
        if not is_batched:
            return h.squeeze(0), c.squeeze(0)
        return h, c

    # ---- input checks (nn.LSTMCell's conditions, with messages that say how to fix) ---------

    def _check_input(self, input: Tensor) -> None:
        if input.dim() not in (1, 2):
            raise ValueError(
                f"LSTMCell: Expected input to be 1D (I,) or 2D (B, I), got {input.dim()}D "
                f"instead (shape {list(input.shape)})"
            )
        if input.size(-1) != self.input_size:
            raise RuntimeError(
                f"LSTMCell: input has {input.size(-1)} features, expected input_size="
                f"{self.input_size} (input shape {list(input.shape)})"
            )
        self._check_dtype("input", input.dtype)

    def _check_dtype(self, name: str, dtype: torch.dtype) -> None:
        weight = self.weight_ih.dtype
        if dtype != weight and not autocast_accepts(dtype, weight, self.weight_ih.device.type):
            raise ValueError(
                f"LSTMCell: {name} dtype ({dtype}) does not match weight dtype ({weight})"
                f"{autocast_note(self.weight_ih.device.type)}. "
                f"Convert {name}: {name}.to({weight}), or convert model: model.to({dtype})"
            )

    def _state(self, hx, x: Tensor, is_batched: bool) -> tuple[Tensor, Tensor]:
        """``(h, c)`` as ``(B, H)`` tensors: zeros when ``hx`` is None, else ``hx`` checked."""
        if hx is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)  # (B, H)
            return zeros, zeros
        pair = isinstance(hx, (tuple, list)) and len(hx) == 2
        if not (pair and all(isinstance(t, Tensor) for t in hx)):
            raise TypeError(
                f"LSTMCell: hx must be a tuple (h, c) of two tensors, got {_describe(hx)}. A "
                f"stacked (2, B, H) tensor is not split: pass hx=(h, c), e.g. tuple(hx)"
            )
        expected = (x.size(0), self.hidden_size) if is_batched else (self.hidden_size,)
        for name, value in (("hx[0]", hx[0]), ("hx[1]", hx[1])):
            if value.dim() not in (1, 2):
                raise ValueError(
                    f"LSTMCell: Expected {name} to be 1D (H,) or 2D (B, H), got {value.dim()}D "
                    f"instead (shape {list(value.shape)})"
                )
            if tuple(value.shape) != expected:
                kind, shape = ("batched 2-D", x.shape) if is_batched else ("unbatched 1-D", x[0].shape)
                raise RuntimeError(
                    f"LSTMCell: for {kind} input of shape {list(shape)}, {name} must have shape "
                    f"{list(expected)}, got {list(value.shape)}"
                )
        self._check_dtype("hx[0]", hx[0].dtype)  # c may differ: f ⊙ c promotes, as in nn.LSTMCell
        h, c = hx
        return (h, c) if is_batched else (h.unsqueeze(0), c.unsqueeze(0))  # (1, H)


def _describe(value) -> str:
    """A short description of what came where a tensor pair was expected."""
    if isinstance(value, Tensor):
        return f"a Tensor of shape {list(value.shape)}"
    if isinstance(value, (tuple, list)):
        kinds = ", ".join(type(v).__name__ for v in value)
        return f"a {type(value).__name__} of {len(value)} element(s) ({kinds})"
    return f"a {type(value).__name__}"


def _check_argument_types(ints: dict, bools: dict) -> None:
    """``nn.LSTM``'s constructor type checks: each of ``bools`` a bool, each of ``ints`` an int.

    A bool is not accepted as an int. Raises ``TypeError`` naming the argument and what came.
    """
    for name, value in bools.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    for name, value in ints.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
