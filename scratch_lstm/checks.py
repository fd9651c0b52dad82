"""``torch.nn.LSTM``'s and ``nn.LSTMCell``'s argument and input checks, with messages that say how to fix.

Skippable on the reading path: nothing here is about the LSTM's arithmetic.

The conditions and exception types are ``torch.nn``'s (``tests/test_errors.py`` runs every bad
call on both); the messages add what came and what to do. Where torch.nn's type is an accident of
its code (an ``AttributeError`` for a list, because it calls ``input.dim()``), ours is a class
that is both that type and the telling one (:class:`NotATensorError` is a ``TypeError`` and an
``AttributeError``), so code that catches either catches it.
:class:`~scratch_lstm.LSTM` and :class:`~scratch_lstm.LSTMCell` call these before any arithmetic,
so the files that hold the equations stay about the equations.
"""

from __future__ import annotations

import numbers
import warnings
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from .autocast import autocast_accepts, autocast_note

# ---- exception types: torch.nn's, and the telling one -------------------------------------------

class NotATensorError(TypeError, AttributeError):
    """Something that is not a tensor where one is needed (a list, a NumPy array, None): a
    ``TypeError``, and the ``AttributeError`` torch.nn raises when it calls a tensor's method."""


class StateFormError(TypeError, IndexError, RuntimeError):
    """``hx`` not in the state's form (one tensor where an LSTM takes ``(h_0, c_0)``, a tuple of one
    or three): a ``TypeError``, and the ``IndexError`` or ``RuntimeError`` torch.nn raises for it,
    depending on the form."""


class DtypeMismatchError(ValueError, RuntimeError):
    """Dtypes that do not go together (the input's and the weights', ``hx``'s and the input's): a
    ``ValueError``, as torch.nn's own check of the input, and the ``RuntimeError`` its kernels
    raise where no check comes first."""


class EmptySequenceError(RuntimeError, IndexError):
    """A sequence with no time step: torch.nn's ``RuntimeError`` (an empty ``PackedSequence``
    there is an ``IndexError``)."""


class NegativeSizeError(ValueError, RuntimeError):
    """A negative size: a ``ValueError``, and the ``RuntimeError`` torch raises when it makes a
    tensor of negative size."""


# ---- constructor arguments --------------------------------------------------------------------

def check_argument_types(ints: dict, bools: dict) -> None:
    """``nn.LSTM``'s constructor type checks: each of ``bools`` a bool, each of ``ints`` an int.

    A bool is an int, as for torch.nn (``LSTM(True, 4)`` has one input feature). Raises
    ``TypeError`` naming the argument and what came.
    """
    for name, value in bools.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    for name, value in ints.items():
        if not isinstance(value, int):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")


def check_lstm_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size):
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
    check_argument_types(
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


def check_cell_arguments(input_size, hidden_size, bias) -> None:
    """nn.LSTMCell's constructor checks: sizes that are ints, zero or more (``bias`` is any value,
    read as true or false, as nn.LSTMCell reads it)."""
    check_argument_types(ints={"input_size": input_size, "hidden_size": hidden_size}, bools={})
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if value < 0:  # nn.LSTMCell accepts 0 (an empty weight), so this does too
            raise NegativeSizeError(f"LSTMCell: {name} must be zero or more, got {value}")


class NoTorchScript:
    """What the modules share so that ``torch.jit.script(model)`` is one clear line: TorchScript
    calls ``__prepare_scriptable__`` before it reads any code, and this one refuses. The modules
    are plain Python (keyword-only arguments, NamedTuples, the impl switch), which TorchScript does
    not compile; ``torch.compile`` does, and :func:`scratch_lstm.to_torch` gives the ``torch.nn``
    module that scripts."""

    def __prepare_scriptable__(self):
        """Refuse ``torch.jit.script`` (a ``RuntimeError`` that says what to use instead)."""
        raise torchscript_refused(self)


def torchscript_refused(module) -> RuntimeError:
    """The one-line error for ``torch.jit.script(module)`` (:class:`NoTorchScript`)."""
    name = type(module).__name__
    return RuntimeError(f"torch.jit.script does not compile scratch_lstm.{name}: its forward is plain Python "
                        f"that TorchScript cannot read. Use torch.compile(model), or script "
                        f"scratch_lstm.to_torch(model) (a torch.nn.{name} with the same weights)")


# ---- LSTM input ---------------------------------------------------------------------------------

class Sequence(NamedTuple):
    """An LSTM input, checked and made time-major, with what is needed to give results back in
    the caller's form.

    ``x`` is ``(T, B, I)``, or for a :class:`PackedSequence` its ``data`` ``(sum B_t, I)`` with
    ``batch_sizes`` (a list, ``B_t`` per step) and the packing's index tensors.
    """

    x: Tensor
    B: int
    unbatched: bool = False
    batch_sizes: list[int] | None = None
    packed_sizes: Tensor | None = None  # the PackedSequence's own batch_sizes tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def results(self, output: Tensor, h_n: Tensor, c_n: Tensor, batch_first: bool):
        """``(output, (h_n, c_n))`` of the time-major stack, back in this input's form: packed,
        batch-first, or unbatched, with ``h_n, c_n`` in the caller's row order."""
        if self.batch_sizes is not None:
            if self.unsorted_indices is not None:
                h_n = h_n.index_select(1, self.unsorted_indices)
                c_n = c_n.index_select(1, self.unsorted_indices)
            packed = PackedSequence(output, self.packed_sizes, self.sorted_indices,
                                    self.unsorted_indices)
            return packed, (h_n, c_n)
        if batch_first:
            output = output.transpose(0, 1)  # (N, L, D*P)
        if self.unbatched:
            output = output.squeeze(0 if batch_first else 1)  # (L, D*P)
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)  # (K*D, P), (K*D, H)
        return output, (h_n, c_n)


def lstm_input(lstm, input) -> Sequence:
    """Check ``input`` as ``nn.LSTM`` does (its dtype, dimensions, features, a time step at
    least) and return it time-major as a :class:`Sequence`. The RNN and the GRU check theirs here
    too (messages name the module's class)."""
    if isinstance(input, PackedSequence):
        data, packed_sizes, sorted_indices, unsorted_indices = input
        _check_features(lstm, data, expected_dim=2)
        sizes = packed_sizes.tolist()
        if not sizes:
            raise empty_sequence_error(data.shape, time_dim=None)
        return Sequence(data, sizes[0], False, sizes, packed_sizes, sorted_indices, unsorted_indices)
    if not isinstance(input, Tensor):
        raise NotATensorError(
            f"{type(lstm).__name__}: Expected input to be a Tensor or a PackedSequence, got "
            f"{type(input).__name__}; convert it with torch.as_tensor(...)"
        )
    if input.dim() not in (2, 3):
        raise ValueError(
            f"{type(lstm).__name__}: Expected input to be 2D (L, H_in) or 3D "
            f"({'N, L' if lstm.batch_first else 'L, N'}, H_in), got {input.dim()}D instead"
        )
    unbatched = input.dim() == 2
    x = input.unsqueeze(0 if lstm.batch_first else 1) if unbatched else input
    _check_features(lstm, x, expected_dim=3)
    time_dim = 1 if lstm.batch_first else 0
    if x.size(time_dim) == 0:
        raise empty_sequence_error(input.shape, time_dim=0 if unbatched else time_dim)
    if lstm.batch_first:
        x = x.transpose(0, 1)  # (L, N, H_in): time-major inside
    return Sequence(x, x.size(1), unbatched)


def _check_features(lstm, x: Tensor, expected_dim: int) -> None:
    weight = lstm.weight_ih_l0
    if x.dtype != weight.dtype and not autocast_accepts(x.dtype, weight.dtype, x.device.type):
        raise DtypeMismatchError(
            f"{type(lstm).__name__} input dtype ({x.dtype}) does not match weight dtype ({weight.dtype})"
            f"{autocast_note(x.device.type)}. Convert input: input.to({weight.dtype}), or "
            f"convert model: model.to({x.dtype})"
        )
    if x.dim() != expected_dim:
        raise RuntimeError(f"input must have {expected_dim} dimensions, got {x.dim()}")
    if x.size(-1) != lstm.input_size:
        raise RuntimeError(
            f"input.size(-1) must be equal to input_size. Expected {lstm.input_size}, "
            f"got {x.size(-1)} (input shape {list(x.shape)})"
        )


def lstm_state(lstm, hx, seq: Sequence) -> tuple[Tensor, Tensor]:
    """``(h0, c0)`` as ``(K*D, B, P)`` and ``(K*D, B, H)``: zeros when ``hx`` is None, else ``hx``
    checked as ``nn.LSTM`` checks it (for packed input too) and, for packed input, its rows put
    in the packed (sorted) order."""
    D = 2 if lstm.bidirectional else 1
    KD, H, P = lstm.num_layers * D, lstm.hidden_size, lstm.proj_size or lstm.hidden_size
    x, B, unbatched = seq.x, seq.B, seq.unbatched
    if hx is None:
        return x.new_zeros(KD, B, P), x.new_zeros(KD, B, H)
    if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise StateFormError(
            f"LSTM: hx must be a tuple (h_0, c_0) of two tensors, got {type(hx).__name__}"
        )
    if not all(isinstance(t, Tensor) for t in hx):
        raise NotATensorError(f"LSTM: hx must be a tuple (h_0, c_0) of two tensors, got {_describe(hx)}")
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
    h_size_name = "proj_size" if lstm.proj_size else "hidden_size"
    _check_state(lstm, "hidden[0] (h_0)", h0, P, h_size_name, seq)
    _check_state(lstm, "hidden[1] (c_0)", c0, H, "hidden_size", seq)
    if seq.sorted_indices is not None:  # hx rows follow the user's order, packed data the sorted one
        h0, c0 = h0.index_select(1, seq.sorted_indices), c0.index_select(1, seq.sorted_indices)
    return h0, c0


def rnn_state(rnn, hx, seq: Sequence) -> Tensor:
    """``h0`` as ``(K*D, B, H)`` for ``nn.RNN`` and ``nn.GRU`` (one state, no cell): zeros when
    ``hx`` is None, else ``hx`` checked as they check it and, for packed input, its rows put in
    the packed (sorted) order."""
    D = 2 if rnn.bidirectional else 1
    KD, H = rnn.num_layers * D, rnn.hidden_size
    x, B, unbatched = seq.x, seq.B, seq.unbatched
    if hx is None:
        return x.new_zeros(KD, B, H)
    name = type(rnn).__name__
    if not isinstance(hx, Tensor):
        error = StateFormError if isinstance(hx, (tuple, list)) else NotATensorError
        raise error(f"{name}: hx must be one Tensor h_0 (num_layers * num_directions, batch, hidden_size), "
                        f"got {type(hx).__name__}: a {name} has no cell state, so no (h_0, c_0) pair")
    want_dim = 2 if unbatched else 3
    if hx.dim() != want_dim:
        kind = "unbatched 2-D" if unbatched else "batched 3-D"
        raise RuntimeError(f"For {kind} input, hx should also be {want_dim}-D but got {hx.dim()}-D tensor")
    h0 = hx.unsqueeze(1) if unbatched else hx
    _check_state(rnn, "hx (h_0)", h0, H, "hidden_size", seq)
    if seq.sorted_indices is not None:  # hx rows follow the user's order, packed data the sorted one
        h0 = h0.index_select(1, seq.sorted_indices)
    return h0


def _check_state(module, name: str, value: Tensor, size: int, size_name: str, seq: Sequence) -> None:
    """One initial state ``(K*D, B, size)`` (unbatched: unsqueezed to that), checked for its
    shape and dtype with ``nn.LSTM``'s messages and what to do."""
    KD = module.num_layers * (2 if module.bidirectional else 1)
    x, B, unbatched = seq.x, seq.B, seq.unbatched
    if tuple(value.shape) != (KD, B, size):
        got = list(value.squeeze(1).shape if unbatched else value.shape)
        want, dims = ((KD, size), "") if unbatched else ((KD, B, size), "batch, ")
        raise RuntimeError(
            f"Expected {name} size {want} (num_layers * num_directions, {dims}"
            f"{size_name}), got {got}"
        )
    weight_dtype = module.weight_ih_l0.dtype
    if value.dtype != x.dtype and not autocast_accepts(value.dtype, weight_dtype, x.device.type):
        raise DtypeMismatchError(
            f"{type(module).__name__}: {name} dtype ({value.dtype}) does not match input dtype ({x.dtype})"
            f"{autocast_note(x.device.type)}. Convert it: .to({x.dtype})"
        )


def empty_sequence_error(shape, time_dim: int | None) -> EmptySequenceError:
    """``nn.LSTM``'s error for a sequence of length 0, saying what came and what to do.

    ``time_dim`` is the dimension of ``shape`` that counts steps (``None`` for packed data).
    """
    if time_dim is None:
        came = f"a PackedSequence with no time steps (data of shape {list(shape)})"
    else:
        came = f"input of shape {list(shape)}, whose time dimension (dim {time_dim}) has length 0"
    return EmptySequenceError(
        f"Expected sequence length to be larger than 0 in RNN: got {came}. Pass at least one "
        f"time step, or skip the call for an empty sequence"
    )


def check_has_steps(x: Tensor) -> None:
    """A layer function's first check: a time-major ``x`` with no step is ``nn.LSTM``'s error."""
    if x.size(0) == 0:
        raise empty_sequence_error(x.shape, time_dim=0)


# ---- LSTMCell input -----------------------------------------------------------------------------

def cell_input(cell, input: Tensor) -> None:
    """Check ``LSTMCell``'s input: a tensor, 1-D or 2-D, ``input_size`` features, the weights' dtype."""
    if not isinstance(input, Tensor):
        raise NotATensorError(f"LSTMCell: Expected input to be a Tensor (B, I) or (I,), got "
                              f"{type(input).__name__}; convert it with torch.as_tensor(...)")
    if input.dim() not in (1, 2):
        raise ValueError(
            f"LSTMCell: Expected input to be 1D (I,) or 2D (B, I), got {input.dim()}D "
            f"instead (shape {list(input.shape)})"
        )
    if input.size(-1) != cell.input_size:
        raise RuntimeError(
            f"LSTMCell: input has {input.size(-1)} features, expected input_size="
            f"{cell.input_size} (input shape {list(input.shape)})"
        )
    _check_cell_dtype(cell, "input", input.dtype)


def _check_cell_dtype(cell, name: str, dtype: torch.dtype) -> None:
    weight = cell.weight_ih.dtype
    if dtype != weight and not autocast_accepts(dtype, weight, cell.weight_ih.device.type):
        raise DtypeMismatchError(
            f"LSTMCell: {name} dtype ({dtype}) does not match weight dtype ({weight})"
            f"{autocast_note(cell.weight_ih.device.type)}. "
            f"Convert {name}: {name}.to({weight}), or convert model: model.to({dtype})"
        )


def cell_state(cell, hx, x: Tensor, is_batched: bool) -> tuple[Tensor, Tensor]:
    """``(h, c)`` as ``(B, H)`` tensors for ``x (B, I)``: zeros when ``hx`` is None, else ``hx``
    checked as ``nn.LSTMCell`` checks it."""
    if hx is None:
        zeros = x.new_zeros(x.size(0), cell.hidden_size)  # (B, H)
        return zeros, zeros
    pair = isinstance(hx, (tuple, list)) and len(hx) == 2
    if not (pair and all(isinstance(t, Tensor) for t in hx)):
        form = pair or isinstance(hx, (Tensor, tuple, list))
        raise (StateFormError if form and not pair else NotATensorError)(
            f"LSTMCell: hx must be a tuple (h, c) of two tensors, got {_describe(hx)}. A "
            f"stacked (2, B, H) tensor is not split: pass hx=(h, c), e.g. tuple(hx)"
        )
    expected = (x.size(0), cell.hidden_size) if is_batched else (cell.hidden_size,)
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
    _check_cell_dtype(cell, "hx[0]", hx[0].dtype)  # c may differ: f ⊙ c promotes, as in nn.LSTMCell
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
