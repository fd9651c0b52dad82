"""Which code runs: the impl names, where each impl can run, and every fallback rule, in one place.

Read with :mod:`scratch_lstm.lstm` (step 3 of the reading path in :mod:`scratch_lstm`). Three
implementations compute the same layer (the contract in :mod:`scratch_lstm.layer`); a learner
reads them in this order, with the plain backward between the first two::

    scratch   lstm_layer (layer.py): the loop over time, autograd through lstm_step (cell.py)
              (then gates.py, and gradient_flow.backward_through_time: the backward, plainly)
    fused     fused_lstm_layer (fused.py): that backward derived by hand and made fast
    triton    triton_lstm_layer (triton_lstm.py): advanced, the same equations as GPU kernels

:class:`scratch_lstm.LSTM` asks :func:`check_available` once per call and
:func:`layer_function` once per layer and direction. The fallback rules:

- packed input, a gate trace, or a step function other than ``lstm_step`` (an LSTM variant, a
  lesion's clamps) -> the teaching path, whatever the impl: only :func:`~scratch_lstm.lstm_layer`
  follows per-step batch sizes, records every :class:`~scratch_lstm.LSTMStep` and takes another
  cell (the fast paths compute the vanilla cell only);
- ``impl="triton"`` on a layer its kernels do not cover (projection, not float32, offsets past
  32 bits: :func:`scratch_lstm.triton_lstm.kernels_cover`) -> the fused path.

The fast paths import only what sits below them (the layer contract, the autograd glue, the
equations, the autocast rules), never each other or :mod:`scratch_lstm.lstm`; this module
imports them, and :mod:`scratch_lstm.lstm` imports this one.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from .fused import fused_lstm_layer
from .layer import LayerFunction, lstm_layer

IMPL_HELP = {
    "scratch": "the gate equations",
    "fused": "the fast path (hand-derived backward)",
    "triton": "the GPU kernels (CUDA)",
}
IMPLS = tuple(IMPL_HELP)  # every implementation, in reading order: the only list of their names


def check_impl(impl: str) -> None:
    """``ValueError`` unless ``impl`` is one of :data:`IMPLS`."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


def interpreting() -> bool:
    """Whether Triton kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def unavailable_reason(impl: str, device: torch.device, name: str | None = None,
                       instead: str | None = None) -> str | None:
    """Why ``impl`` cannot run on ``device`` here, or ``None`` if it can.

    Only ``triton`` has conditions: the triton package, and a CUDA device (or CPU tensors under
    ``TRITON_INTERPRET=1``). ``name`` and ``instead`` word the message for where it is read
    (default ``impl='triton'`` and ``impl='fused'``; the CLI passes ``--backend triton`` and
    ``--backend fused``).
    """
    if impl != "triton":
        return None
    name, instead = name or "impl='triton'", instead or "impl='fused'"
    if importlib.util.find_spec("triton") is None:
        return (f"{name} needs the triton package, which is not installed (it ships with the "
                f"Linux CUDA builds of torch); use {instead}, the same hand-derived backward in "
                "torch ops, which runs everywhere")
    if device.type == "cuda" or (device.type == "cpu" and interpreting()):
        return None
    return (f"{name} runs its kernels on a CUDA GPU, not on {device.type}; use "
            f"{instead} (the same hand-derived backward in torch ops) off the GPU, or set "
            "TRITON_INTERPRET=1 before importing scratch_lstm to run the kernels in Triton's slow "
            "CPU interpreter")


def check_available(impl: str, device: torch.device) -> None:
    """``RuntimeError`` with :func:`unavailable_reason`'s message where ``impl`` cannot run."""
    reason = unavailable_reason(impl, device)
    if reason is not None:
        raise RuntimeError(reason)


def layer_function(impl: str, tensors: tuple, batch_sizes: list[int] | None = None,
                   trace: list | None = None, cell=None) -> LayerFunction:
    """The function that computes one layer-direction of ``LSTM(impl=impl)`` on these inputs.

    ``tensors`` are the layer's 8 tensor inputs ``(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)``;
    ``batch_sizes`` (packed input), ``trace`` and ``cell`` (``None``: ``lstm_step``) are
    :func:`~scratch_lstm.lstm_layer`'s. The result is called as the contract of
    :mod:`scratch_lstm.layer` says: ``run(*tensors, reverse=...)``.
    """
    check_impl(impl)
    if cell is not None:
        return functools.partial(lstm_layer, batch_sizes=batch_sizes, trace=trace, cell=cell)
    if impl == "scratch" or batch_sizes is not None or trace is not None:
        return functools.partial(lstm_layer, batch_sizes=batch_sizes, trace=trace)
    if impl == "triton":
        from .triton_lstm import kernels_cover, triton_lstm_layer  # on use: it imports triton

        if kernels_cover(tensors):
            return triton_lstm_layer
    return fused_lstm_layer
