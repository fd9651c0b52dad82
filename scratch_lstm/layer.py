"""One layer, one direction: the loop over time that calls :func:`~scratch_lstm.lstm_step`.

Read this after :mod:`scratch_lstm.cell`. :class:`scratch_lstm.LSTM` stacks these layers.

**The layer-function contract.** Every implementation of a layer (:func:`lstm_layer` here, the
fast paths' ``fused_lstm_layer`` and ``triton_lstm_layer``) is called the same way by the stack::

    y, (h_n, c_n) = layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse=False)

    x        (T, B, I)    the time-major sequence (the teaching path also takes packed data)
    h0, c0   (B, P), (B, H)
    w_ih (4H, I), w_hh (4H, P), b_ih, b_hh (4H,) or None, w_hr (P, H) or None: one direction's
             parameters, as :meth:`scratch_lstm.LSTM.direction_weights` gives them
    y        (T, B, P)    every step's hidden state (projected when ``w_hr`` is given)
    h_n, c_n (B, P), (B, H)  the state after the last step processed

and raises ``nn.LSTM``'s ``RuntimeError`` for ``T = 0``. Which function runs is decided in one
place, :func:`scratch_lstm.impls.layer_function`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .cell import LSTMStep, lstm_step
from .checks import empty_sequence_error

LayerFunction = Callable[..., tuple[Tensor, tuple[Tensor, Tensor]]]  # the contract above
Weights = tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]  # w_ih ... w_hr


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
    cell: Callable[..., LSTMStep] = lstm_step,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run one direction of one LSTM layer over a whole sequence, one :func:`lstm_step` a step.

    Args:
        x: the time-major sequence ``(T, B, I)``, or, with ``batch_sizes``, the ``data`` of a
            :class:`~torch.nn.utils.rnn.PackedSequence` ``(sum B_t, I)``: step ``t`` holds the
            first ``B_t`` sequences of the batch (sorted by length, longest first).
        h0, c0: initial states ``(B, P or H)`` and ``(B, H)``.
        reverse: run from the last step to the first (the backward direction of a
            bidirectional LSTM). With packed input each sequence starts at its own last step.
        trace: if a list is given, it is filled with the :class:`LSTMStep` of every time step,
            indexed in input time order (used by :func:`scratch_lstm.trace_gates`).
        cell: the step function, called as :func:`lstm_step` is: a variant's or a lesion's
            (:func:`scratch_lstm.variants.variant_step`), or the RNN's and GRU's, which carry an
            empty ``(B, 0)`` cell state through the loop (:mod:`scratch_lstm.rnn`).

    Returns:
        ``(y, (h_n, c_n))``: ``y`` is ``(T, B, P or H)`` (or packed ``(sum B_t, ...)``), and
        ``h_n, c_n`` are each sequence's state after its last valid step.

    Packed input, worked through. Three sequences of lengths 3, 2, 1 (sorted, longest first) give
    ``batch_sizes = [3, 2, 1]``: step 0 holds rows 0-2, step 1 rows 0-1, step 2 row 0. Going
    forward the batch only shrinks: before step 1, row 2 (length 1) has ended, so its state is
    set aside in ``finished`` and the loop carries rows 0-1; before step 2, row 1 joins it. At the
    end ``finished`` holds ``[row 2, row 1]`` in the order they ended, so ``h_n`` is the carried
    row 0 followed by ``finished`` reversed: rows 0, 1, 2. Going in reverse the batch only grows:
    step 2 is the first step of row 0 only, so the loop starts from ``h0[:1]`` (``h0[:sizes[-1]]``);
    at step 1 row 1 starts, taking its initial state ``h0[1:2]``, and at step 0 row 2 does. Every
    sequence then ends at step 0, so nothing is set aside.
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
        step = cell(xs[t], h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
        h, c = step.state, step.c
        ys[t] = h
        if trace is not None:
            trace[t] = step

    h_n = torch.cat([h] + [fh for fh, _ in reversed(finished)])  # (B, P or H)
    c_n = torch.cat([c] + [fc for _, fc in reversed(finished)])  # (B, H)
    y = torch.cat(ys) if packed else torch.stack(ys)  # (T, B, P or H) or (sum B_t, P or H)
    return y, (h_n, c_n)
