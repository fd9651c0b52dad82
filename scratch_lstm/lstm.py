"""The stack: ``torch.nn.LSTM``'s parameters, and a forward that runs layer after layer.

The first file of the engineering, after the concepts (:mod:`scratch_lstm.cell`, one step;
:mod:`scratch_lstm.layer`, the loop over time; ... :mod:`scratch_lstm.gates`); :mod:`scratch_lstm.impls`
beside it is skippable (which implementation runs); next, :mod:`scratch_lstm.fused`.
``K`` is the number of layers and ``D`` of directions, as in cell.py's notation. :class:`LSTM`
accepts every input form ``nn.LSTM`` accepts: ``(T, B, I)``, ``(B, T, I)`` with ``batch_first``,
unbatched ``(T, I)`` and :class:`~torch.nn.utils.rnn.PackedSequence`.
Its argument and input checks are in :mod:`scratch_lstm.checks`; which layer function runs
(the ``impl``) is decided in :mod:`scratch_lstm.impls`. :class:`RNNBase` holds what the LSTM
shares with the plain RNN and the GRU (:mod:`scratch_lstm.rnn`): the parameters, registered as
``nn.RNNBase`` registers them, and the loop over layers and directions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .autocast import autocast_output_dtype
from .checks import NoTorchScript, Sequence, check_lstm_arguments, lstm_input, lstm_state
from .clamps import check_clamps, layer_hold
from .impls import check_available, check_impl, layer_function
from .variants import VARIANTS, check_variant, variant_step


class RNNBase(NoTorchScript, nn.Module):
    r"""What :class:`LSTM`, :class:`~scratch_lstm.GRU` and :class:`~scratch_lstm.RNN` share, as in
    ``torch.nn.RNNBase``: the parameters and the loop over layers and directions.

    Each layer ``k`` and direction registers ``weight_ih_l{k}`` ``(G*H, I_k)``, ``weight_hh_l{k}``
    ``(G*H, P)``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` ``(G*H,)`` (with ``bias``) and
    ``weight_hr_l{k}`` ``(P, H)`` (with ``proj_size``), the reverse direction's with the suffix
    ``_reverse``, in ``nn.RNNBase``'s order, and draws them all from ``U(-1/sqrt(H), 1/sqrt(H))``;
    ``G`` is :attr:`gates`, the blocks of ``H`` rows of the stacked weights. The arguments are
    checked as ``nn.RNNBase`` checks them.
    """

    gates = 4  # blocks of H rows in the stacked weights: LSTM 4 (i, f, g, o), GRU 3 (r, z, n), RNN 1
    impl = "scratch"  # the layer functions available: the LSTM alone has fast paths (impls.py)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None) -> None:
        super().__init__()
        check_lstm_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size

        factory = {"device": device, "dtype": dtype}
        D = 2 if bidirectional else 1
        G, H, P = self.gates, hidden_size, proj_size or hidden_size  # P: size of the hidden state passed on
        self._direction_names: list[tuple[str | None, ...]] = []  # per (layer, direction)
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else P * D
            for direction in range(D):
                sfx = self.suffix(layer * D + direction)
                shapes = {
                    "weight_ih": (G * H, layer_input_size),
                    "weight_hh": (G * H, P),
                    "bias_ih": (G * H,) if bias else None,
                    "bias_hh": (G * H,) if bias else None,
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

    def suffix(self, k: int) -> str:
        """The parameter-name suffix of layer-direction ``k = layer * D + direction``:
        ``_l{layer}``, and ``_reverse`` for the reverse direction."""
        D = 2 if self.bidirectional else 1
        return f"_l{k // D}" + ("_reverse" if k % D else "")

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(H), 1/sqrt(H))`` in registration order.

        This is ``nn.RNNBase``'s rule and order, so with the same RNG state both modules draw the
        same weights.
        """
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """Does nothing: present so code written for ``torch.nn``'s RNNs (cuDNN) runs unchanged."""

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters grouped per layer and direction, as ``nn.RNNBase.all_weights``."""
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
        return s

    def _run(self, seq: Sequence, h0: Tensor, c0: Tensor, trace: list | None = None,
             cells: list | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The layers on a checked input, under the autocast rules (see :class:`LSTM`); returns
        ``output (T, B, D*P)`` (or packed data), ``h_n (K*D, B, P)``, ``c_n (K*D, B, H)``.
        ``cells[k]`` is the step function of layer-direction ``k`` (``None``: ``lstm_step`` on
        whichever path the impl picks)."""
        if trace is None and cells is None:  # a trace or a cell of its own runs the teaching path anyway
            check_available(self.impl, seq.x.device)  # e.g. triton off the GPU: one clear error
        x, weight_dtype = seq.x, self.weight_ih_l0.dtype
        autocast_dtype = autocast_output_dtype(x.device.type, weight_dtype)  # None: no autocast
        if autocast_dtype is not None:  # compute from the weights' dtype, return nn.LSTM's dtype
            x, h0, c0 = (t.to(weight_dtype) for t in (x, h0, c0))
        output, h_n, c_n = self._layers(x, h0, c0, seq.batch_sizes, trace, cells)
        if autocast_dtype is not None:
            output, h_n, c_n = (t.to(autocast_dtype) for t in (output, h_n, c_n))
        return output, h_n, c_n

    def _layers(self, x, h0, c0, batch_sizes, trace, cells):
        """The layers from the bottom up, each direction over the whole sequence, on the layer
        function :mod:`scratch_lstm.impls` picks; returns ``output (T, B, D*P)`` (or packed
        data), ``h_n (K*D, B, P)``, ``c_n (K*D, B, H)``."""
        D = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                tensors = (x, h0[k], c0[k], *self.direction_weights(k))
                steps = [] if trace is not None else None
                run = layer_function(self.impl, tensors, batch_sizes, steps, cells[k] if cells else None)
                y, (h, c) = run(*tensors, reverse=direction == 1)  # (T, B, P), (B, P), (B, H)
                outputs.append(y)
                h_n.append(h)
                c_n.append(c)
                if trace is not None:
                    trace.append(steps)
            x = torch.cat(outputs, dim=-1) if D == 2 else outputs[0]  # (T, B, D*P): next layer's input
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)  # between layers, never through time
        return x, torch.stack(h_n), torch.stack(c_n)


class LSTM(RNNBase):
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
        batch_first: input and output are ``(B, T, ·)`` instead of ``(T, B, ·)``.
        dropout: dropout probability on the outputs of every layer but the last, in training
            mode only (never on the recurrent path).
        bidirectional: add a second direction per layer that reads the sequence backwards.
        proj_size: if ``> 0``, project each hidden state to ``proj_size`` features (LSTMP).
        impl: ``"scratch"`` (default): the teaching path, autograd through :func:`lstm_step`.
            ``"fused"``: the fast path of :mod:`scratch_lstm.fused` (a hand-derived backward
            through time). ``"triton"``: the GPU kernels of :mod:`scratch_lstm.triton_lstm`
            (CUDA, float32). Packed sequences take the teaching path, and what the kernels do
            not cover (``proj_size``, float64) the fused path: :mod:`scratch_lstm.impls`.
        variant: the cell, one of :data:`scratch_lstm.variants.VARIANTS`: ``"vanilla"``
            (default, :func:`lstm_step` itself), or a variant of Greff et al. (2017) on the
            teaching path only (``impl="scratch"``; the fast paths compute the vanilla cell):
            ``"nig"``, ``"nfg"``, ``"nog"``, ``"cifg"`` leave the rows of the gate they drop
            unused, ``"niaf"``, ``"noaf"`` use every parameter, and ``"peephole"`` adds
            ``weight_ci_l{k}``, ``weight_cf_l{k}``, ``weight_co_l{k}`` ``(H,)`` per layer and
            direction, registered after all of ``nn.LSTM``'s (so ``nn.LSTM``'s parameters keep
            their layout and, for a seed, their values; ``strict=False`` loads an ``nn.LSTM``'s
            state dict into it, leaving the peepholes as drawn).

    Under ``torch.autocast`` the results come back in the autocast dtype, as ``nn.LSTM``'s do
    (see :mod:`scratch_lstm.autocast`): the teaching path runs as autocast decides (matrix
    products in the low dtype, gates and cell state in the weights' dtype through promotion);
    the other impls compute in the weights' dtype with autocast off.

    ``forward(input, hx=None) -> (output, (h_n, c_n))`` with ``output (T, B, D*P)``
    (or ``(B, T, D*P)``, or packed), ``h_n (K*D, B, P)`` and ``c_n (K*D, B, H)`` where ``D`` is
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
        variant: str = "vanilla",
    ) -> None:
        check_impl(impl)
        check_variant(variant)
        if variant != "vanilla" and impl != "scratch":
            raise ValueError(f"variant={variant!r} runs on the teaching path only: pass impl='scratch' "
                             f"(got impl={impl!r}); the fused and triton paths compute the vanilla cell")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)
        self.impl = impl
        self.variant = variant
        self._added_names: list[tuple[str, ...]] = []  # per (layer, direction): the variant's own
        bound = 1.0 / math.sqrt(hidden_size)
        for k in range(len(self._direction_names)):  # after all of nn.LSTM's, drawn by the same rule
            names = tuple(base + self.suffix(k) for base in VARIANTS[variant].added)
            for name in names:
                p = nn.Parameter(torch.empty(hidden_size, device=device, dtype=dtype))  # (H,)
                self.register_parameter(name, p)
                nn.init.uniform_(p, -bound, bound)
            self._added_names.append(names)

    def extra_repr(self) -> str:
        """The arguments that differ from the defaults, as in torch's repr."""
        s = super().extra_repr()
        if self.impl != "scratch":
            s += f", impl={self.impl!r}"
        if self.variant != "vanilla":
            s += f", variant={self.variant!r}"
        return s

    # ---- forward ---------------------------------------------------------------------------

    def forward(self, input, hx: tuple[Tensor, Tensor] | None = None, *, trace: list | None = None,
                clamps=()):
        """Run the LSTM; see the class docstring for the shapes.

        ``trace`` is the hook for studying the gates (:func:`scratch_lstm.trace_gates` uses
        it): if a list is given, every layer and direction runs the teaching path, whatever the
        impl, and the list receives, in ``nn.LSTM``'s order (layer 0 forward, layer 0 reverse,
        layer 1 forward, ...), one list per layer and direction of the :class:`LSTMStep` of
        each time step, indexed in input time order.

        ``clamps`` are lesions (:class:`scratch_lstm.GateClamp`): if any is given, every layer
        and direction runs the teaching path, whatever the impl, with each clamped gate held at
        its value (:mod:`scratch_lstm.clamps`); ``ValueError`` for a layer or unit the LSTM
        does not have.
        """
        clamps = check_clamps(clamps, self.num_layers, self.hidden_size)
        seq = lstm_input(self, input)  # time-major x (T, B, I), or packed data (sum B_t, I)
        h0, c0 = lstm_state(self, hx, seq)  # (K*D, B, P), (K*D, B, H)
        output, h_n, c_n = self._run(seq, h0, c0, trace, self.cells(clamps))
        return seq.results(output, h_n, c_n, self.batch_first)  # the input's form again

    def cells(self, clamps=()) -> list | None:
        """The step function of every layer and direction (:func:`scratch_lstm.variants.variant_step`)
        for this variant and ``clamps``; ``None`` for the vanilla cell without clamps (each impl
        then runs its own path)."""
        if self.variant == "vanilla" and not clamps:
            return None
        D = 2 if self.bidirectional else 1
        cells = []
        for k, names in enumerate(self._added_names):
            peepholes = tuple(getattr(self, n) for n in names) or None
            cells.append(variant_step(self.variant, layer_hold(clamps, k // D, self.hidden_size), peepholes))
        return cells
