"""The multi-layer, optionally bidirectional LSTM: cell -> layer (loop over time) -> stack.

:func:`lstm_layer` runs one direction of one layer over a sequence, one :func:`lstm_step` per
time step. :class:`LSTM` stacks layers and directions exactly as ``torch.nn.LSTM`` does and
accepts every input form it accepts: ``(L, N, I)``, ``(N, L, I)`` with ``batch_first``, unbatched
``(L, I)`` and :class:`~torch.nn.utils.rnn.PackedSequence`.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .cell import LSTMStep, _check_argument_types, lstm_step
from .modes import autocast_accepts, autocast_disabled, autocast_note, autocast_output_dtype

IMPLS = ("scratch", "fused", "triton")


def lstm_layer(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
    reverse: bool = False,
    batch_sizes: list[int] | None = None,
    trace: list[LSTMStep | None] | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run one direction of one LSTM layer over a whole sequence.

    Args:
        x: the time-major sequence ``(T, B, I)``, or, with ``batch_sizes``, the ``data`` of a
            :class:`PackedSequence` ``(sum B_t, I)``: step ``t`` holds the first ``B_t``
            sequences of the batch (sorted by length, longest first).
        h0, c0: initial states ``(B, P or H)`` and ``(B, H)``.
        reverse: run from the last step to the first (the backward direction of a
            bidirectional LSTM). With packed input each sequence starts at its own last step.
        trace: if a list is given, it is filled with the :class:`LSTMStep` of every time step,
            indexed in input time order (used by :func:`scratch_lstm.trace_gates`).

    Returns:
        ``(y, (h_n, c_n))``: ``y`` is ``(T, B, P or H)`` (or packed ``(sum B_t, ...)``), and
        ``h_n, c_n`` are each sequence's state after its last valid step.
    """
    packed = batch_sizes is not None
    xs = x.split(batch_sizes) if packed else x.unbind(0)  # T tensors (B_t, I)
    T = len(xs)
    if T == 0:
        raise empty_sequence_error(x.shape, time_dim=None if packed else 0)
    sizes = batch_sizes if packed else [x.size(1)] * T
    ys: list[Tensor | None] = [None] * T
    if trace is not None:
        trace[:] = [None] * T

    h, c = (h0[: sizes[-1]], c0[: sizes[-1]]) if reverse else (h0, c0)
    finished: list[tuple[Tensor, Tensor]] = []  # states of sequences that already ended
    for t in reversed(range(T)) if reverse else range(T):
        B_t = sizes[t]
        if B_t < h.size(0):  # forward over packed input: the shortest sequences just ended
            finished.append((h[B_t:], c[B_t:]))
            h, c = h[:B_t], c[:B_t]
        elif B_t > h.size(0):  # reverse over packed input: longer sequences start here
            h = torch.cat([h, h0[h.size(0) : B_t]])
            c = torch.cat([c, c0[c.size(0) : B_t]])
        step = lstm_step(xs[t], h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
        h, c = step.state, step.c
        ys[t] = h
        if trace is not None:
            trace[t] = step

    h_n = torch.cat([h] + [fh for fh, _ in reversed(finished)])  # (B, P or H)
    c_n = torch.cat([c] + [fc for _, fc in reversed(finished)])  # (B, H)
    y = torch.cat(ys) if packed else torch.stack(ys)  # (T, B, P or H) or (sum B_t, P or H)
    return y, (h_n, c_n)


class LSTM(nn.Module):
    r"""A drop-in replacement for :class:`torch.nn.LSTM` whose gates are this project's code.

    Same constructor, same parameters (names ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``weight_hr_l{k}`` and their ``_reverse`` twins, in
    nn.LSTM's order, shapes and initialisation), same forward contract and input checks. So
    ``load_state_dict`` works in both directions with ``strict=True``.

    Args:
        input_size: features ``I`` of each input step.
        hidden_size: features ``H`` of the cell state (and of the hidden state unless projected).
        num_layers: number of stacked layers ``K``.
        bias: if ``False``, no bias parameters are registered.
        batch_first: input and output are ``(N, L, ·)`` instead of ``(L, N, ·)``.
        dropout: dropout probability on the outputs of every layer but the last, in training
            mode only (never on the recurrent path).
        bidirectional: add a second direction per layer that reads the sequence backwards.
        proj_size: if ``> 0``, project each hidden state to ``proj_size`` features (LSTMP).
        impl: ``"scratch"`` (default): the teaching path, autograd through :func:`lstm_step`.
            ``"fused"``: the fast path of :mod:`scratch_lstm.fused` (a hand-derived backward
            through time); packed sequences use the teaching path. ``"triton"``: the GPU
            kernels of :mod:`scratch_lstm.triton_lstm` (CUDA, float32); what they do not cover
            (``proj_size``, float64, packed sequences) goes through the fused path.

    Under ``torch.autocast`` the results come back in the autocast dtype, as ``nn.LSTM``'s do
    (see :mod:`scratch_lstm.modes`): the teaching path runs as autocast decides (matrix
    products in the low dtype, gates and cell state in the weights' dtype through promotion);
    the other impls compute in the weights' dtype with autocast off.

    ``forward(input, hx=None) -> (output, (h_n, c_n))`` with ``output (L, N, D*P)``
    (or ``(N, L, D*P)``, or packed), ``h_n (K*D, N, P)`` and ``c_n (K*D, N, H)`` where ``D`` is
    2 if bidirectional else 1 and ``P`` is ``proj_size or hidden_size``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        impl: str = "scratch",
    ) -> None:
        super().__init__()
        _check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.impl = impl

        factory = {"device": device, "dtype": dtype}
        D = 2 if bidirectional else 1
        H, P = hidden_size, proj_size or hidden_size  # P: size of the hidden state passed on
        self._direction_names: list[tuple[str | None, ...]] = []  # per (layer, direction)
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else P * D
            for direction in range(D):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {
                    "weight_ih": (4 * H, layer_input_size),
                    "weight_hh": (4 * H, P),
                    "bias_ih": (4 * H,) if bias else None,
                    "bias_hh": (4 * H,) if bias else None,
                    "weight_hr": (P, H) if proj_size > 0 else None,
                }
                names = []
                for base, shape in shapes.items():
                    if shape is None:
                        names.append(None)
                        continue
                    self.register_parameter(base + sfx, nn.Parameter(torch.empty(shape, **factory)))
                    names.append(base + sfx)
                self._direction_names.append(tuple(names))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(H), 1/sqrt(H))`` in registration order.

        This is ``nn.LSTM``'s rule and order, so with the same RNG state both modules draw the
        same weights.
        """
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """Does nothing: present so code written for ``nn.LSTM`` (cuDNN) runs unchanged."""

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters grouped per layer and direction, as ``nn.LSTM.all_weights``."""
        return [[getattr(self, n) for n in names if n] for names in self._direction_names]

    def direction_weights(self, k: int) -> tuple[Tensor | None, ...]:
        """``(w_ih, w_hh, b_ih, b_hh, w_hr)`` of layer-direction ``k = layer * D + direction``.

        Absent parameters (no bias, no projection) are ``None``.
        """
        return tuple(getattr(self, n) if n else None for n in self._direction_names[k])

    def extra_repr(self) -> str:
        """The arguments that differ from the defaults, as in torch's repr."""
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        if self.impl != "scratch":
            s += f", impl={self.impl!r}"
        return s

    # ---- forward -------------------------------------------------------------------------

    def forward(self, input, hx: tuple[Tensor, Tensor] | None = None):
        """Run the LSTM; see the class docstring for the shapes."""
        return self._forward(input, hx)

    def _forward(self, input, hx, trace: list | None = None):
        if isinstance(input, PackedSequence):
            x, batch_sizes, sorted_indices, unsorted_indices = input
            self._check_input(x, expected_dim=2)
            sizes = batch_sizes.tolist()
            if not sizes:
                raise empty_sequence_error(x.shape, time_dim=None)
            B, unbatched = sizes[0], False
        else:
            if not isinstance(input, Tensor):
                raise TypeError(
                    f"LSTM: Expected input to be a Tensor or a PackedSequence, got "
                    f"{type(input).__name__}; convert it with torch.as_tensor(...)"
                )
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"LSTM: Expected input to be 2D (L, H_in) or 3D "
                    f"({'N, L' if self.batch_first else 'L, N'}, H_in), got {input.dim()}D instead"
                )
            sizes, sorted_indices, unsorted_indices = None, None, None
            unbatched = input.dim() == 2
            x = input.unsqueeze(0 if self.batch_first else 1) if unbatched else input
            self._check_input(x, expected_dim=3)
            time_dim = 1 if self.batch_first else 0
            if x.size(time_dim) == 0:
                raise empty_sequence_error(input.shape, time_dim=0 if unbatched else time_dim)
            if self.batch_first:
                x = x.transpose(0, 1)  # (L, N, H_in): time-major inside
            B = x.size(1)

        h0, c0 = self._initial_state(hx, x, B, unbatched)  # (K*D, B, P), (K*D, B, H)
        if self.impl == "triton":  # one clear error where its kernels cannot run, whatever the input
            from .triton_lstm import unavailable_reason

            reason = unavailable_reason(x.device)
            if reason is not None:
                raise RuntimeError(reason)
        if sorted_indices is not None:  # rows of hx follow the user's order, not the sorted one
            h0, c0 = h0.index_select(1, sorted_indices), c0.index_select(1, sorted_indices)
        # Under autocast (None otherwise): compute from the weights' dtype, return nn.LSTM's dtype.
        autocast_dtype = autocast_output_dtype(x.device.type, self.weight_ih_l0.dtype)
        if autocast_dtype is not None:
            x, h0, c0 = (t.to(self.weight_ih_l0.dtype) for t in (x, h0, c0))

        D = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                steps = [] if trace is not None else None
                y, (h, c) = self._run_direction(
                    layer_input, h0[k], c0[k], k, direction == 1, sizes, steps
                )
                outputs.append(y)
                h_n.append(h)
                c_n.append(c)
                if trace is not None:
                    trace.append(steps)
            layer_input = torch.cat(outputs, dim=-1) if D == 2 else outputs[0]  # (L, N, D*P)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = layer_input
        h_n, c_n = torch.stack(h_n), torch.stack(c_n)  # (K*D, N, P), (K*D, N, H)
        if autocast_dtype is not None:
            output, h_n, c_n = (t.to(autocast_dtype) for t in (output, h_n, c_n))

        if sizes is not None:
            if unsorted_indices is not None:
                h_n, c_n = h_n.index_select(1, unsorted_indices), c_n.index_select(1, unsorted_indices)
            return PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices), (h_n, c_n)
        if self.batch_first:
            output = output.transpose(0, 1)  # (N, L, D*P)
        if unbatched:
            output = output.squeeze(0 if self.batch_first else 1)  # (L, D*P)
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)  # (K*D, P), (K*D, H)
        return output, (h_n, c_n)

    def _run_direction(self, x, h0, c0, k, reverse, sizes, trace):
        weights = self.direction_weights(k)
        if self.impl != "scratch" and sizes is None and trace is None:
            with autocast_disabled(x.device.type):  # fast paths compute in the weights' dtype
                return _fast_layer(self.impl)(x, h0, c0, *weights, reverse=reverse)
        return lstm_layer(x, h0, c0, *weights, reverse=reverse, batch_sizes=sizes, trace=trace)

    # ---- input checks (the same conditions as nn.LSTM, with messages that say how to fix) ---

    def _check_input(self, x: Tensor, expected_dim: int) -> None:
        weight = self.weight_ih_l0
        if x.dtype != weight.dtype and not autocast_accepts(x.dtype, weight.dtype, x.device.type):
            raise ValueError(
                f"LSTM input dtype ({x.dtype}) does not match weight dtype ({weight.dtype})"
                f"{autocast_note(x.device.type)}. Convert input: input.to({weight.dtype}), or "
                f"convert model: model.to({x.dtype})"
            )
        if x.dim() != expected_dim:
            raise RuntimeError(f"input must have {expected_dim} dimensions, got {x.dim()}")
        if x.size(-1) != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {x.size(-1)} (input shape {list(x.shape)})"
            )

    def _initial_state(self, hx, x: Tensor, B: int, unbatched: bool) -> tuple[Tensor, Tensor]:
        D = 2 if self.bidirectional else 1
        KD, H, P = self.num_layers * D, self.hidden_size, self.proj_size or self.hidden_size
        if hx is None:
            return x.new_zeros(KD, B, P), x.new_zeros(KD, B, H)
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(
                f"LSTM: hx must be a tuple (h_0, c_0) of two tensors, got {type(hx).__name__}"
            )
        h0, c0 = hx
        want_dim = 2 if unbatched else 3
        if h0.dim() != want_dim or c0.dim() != want_dim:
            kind = "unbatched 2-D" if unbatched else "batched 3-D"
            raise RuntimeError(
                f"For {kind} input, hx and cx should also be {want_dim}-D but got "
                f"({h0.dim()}-D, {c0.dim()}-D) tensors"
            )
        if unbatched:
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        h_size_name = "proj_size" if self.proj_size else "hidden_size"
        for name, value, size, size_name in (
            ("hidden[0] (h_0)", h0, P, h_size_name),
            ("hidden[1] (c_0)", c0, H, "hidden_size"),
        ):
            if tuple(value.shape) != (KD, B, size):
                got = list(value.squeeze(1).shape if unbatched else value.shape)
                want, dims = ((KD, size), "") if unbatched else ((KD, B, size), "batch, ")
                raise RuntimeError(
                    f"Expected {name} size {want} (num_layers * num_directions, {dims}"
                    f"{size_name}), got {got}"
                )
            weight_dtype = self.weight_ih_l0.dtype
            if value.dtype != x.dtype and not autocast_accepts(
                value.dtype, weight_dtype, x.device.type
            ):
                raise ValueError(
                    f"LSTM: {name} dtype ({value.dtype}) does not match input dtype ({x.dtype})"
                    f"{autocast_note(x.device.type)}. Convert it: .to({x.dtype})"
                )
        return h0, c0


def _fast_layer(impl: str):
    """The layer function of a non-teaching impl: ``lstm_layer``'s contract, padded input."""
    if impl == "triton":
        from .triton_lstm import triton_lstm_layer  # imported on use: it needs the triton package

        return triton_lstm_layer
    from .fused import fused_lstm_layer  # imported here: fused.py imports this module

    return fused_lstm_layer


def empty_sequence_error(shape, time_dim: int | None) -> RuntimeError:
    """``nn.LSTM``'s error for a sequence of length 0, saying what came and what to do.

    ``time_dim`` is the dimension of ``shape`` that counts steps (``None`` for packed data).
    """
    if time_dim is None:
        came = f"a PackedSequence with no time steps (data of shape {list(shape)})"
    else:
        came = f"input of shape {list(shape)}, whose time dimension (dim {time_dim}) has length 0"
    return RuntimeError(
        f"Expected sequence length to be larger than 0 in RNN: got {came}. Pass at least one "
        f"time step, or skip the call for an empty sequence"
    )


def _check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size):
    """nn.LSTM's constructor checks, in its order and with its exception types."""
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            f"element being zeroed, got {dropout!r}"
        )
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero "
            f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
            f"num_layers={num_layers}",
            stacklevel=3,
        )
    _check_argument_types(
        ints={
            "input_size": input_size,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "proj_size": proj_size,
        },
        bools={"bias": bias, "batch_first": batch_first},
    )
    if input_size <= 0:
        raise ValueError(f"input_size must be greater than zero, got {input_size}")
    if hidden_size <= 0:
        raise ValueError(f"hidden_size must be greater than zero, got {hidden_size}")
    if num_layers <= 0:
        raise ValueError(f"num_layers must be greater than zero, got {num_layers}")
    if proj_size < 0:
        raise ValueError(
            f"proj_size should be a positive integer or zero to disable projections, got {proj_size}"
        )
    if proj_size >= hidden_size:
        raise ValueError(
            f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} and "
            f"hidden_size={hidden_size}"
        )
