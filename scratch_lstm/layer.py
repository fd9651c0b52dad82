"""One layer, one direction: the loop over time that calls :func:`~scratch_lstm.lstm_step`.

Read this after :mod:`scratch_lstm.cell` (its notation box holds here too); next,
``docs/why-lstm.md`` and :mod:`scratch_lstm.gradient_flow`: why the gradient survives this loop.
(:mod:`scratch_lstm.lstm`, which stacks these layers, comes later, with the engineering.)
:func:`lstm_layer` reads as the padded loop, ``h, c = h0, c0`` then one :func:`lstm_step` per
step; the few lines marked "packed" are the bookkeeping for
:class:`~torch.nn.utils.rnn.PackedSequence` data, in two small helpers below it.

**The layer-function contract.** Every implementation of a layer (:func:`lstm_layer` here, the
fast paths' ``fused_lstm_layer`` and ``triton_lstm_layer``) is called the same way by the stack::

    y, (h_n, c_n) = layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse=False)

    x        (T, B, I)    the time-major sequence (the teaching path also takes packed data)
    h0, c0   (B, P), (B, H)   the initial state h_{-1}, c_{-1}
    w_ih (4H, I), w_hh (4H, P), b_ih, b_hh (4H,) or None, w_hr (P, H) or None: one direction's
             parameters, as :meth:`scratch_lstm.LSTM.direction_weights` gives them
    y        (T, B, P)    every step's y_t: h_t, or h_proj_t when ``w_hr`` is given
    h_n, c_n (B, P), (B, H)  the state after the last step processed (h_{T-1}, c_{T-1} forward)

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
        h0, c0: the initial state h_{-1}, c_{-1}: ``(B, P)`` and ``(B, H)``.
        reverse: run from the last step to the first (the backward direction of a
            bidirectional LSTM). With packed input each sequence starts at its own last step.
        trace: if a list is given, it is filled with the :class:`LSTMStep` of every time step,
            indexed in input time order (used by :func:`scratch_lstm.trace_gates`).
        cell: the step function, called as :func:`lstm_step` is: a variant's or a lesion's
            (:func:`scratch_lstm.variants.variant_step`), or the RNN's and GRU's, which carry an
            empty ``(B, 0)`` cell state through the loop (:mod:`scratch_lstm.rnn`).

    Returns:
        ``(y, (h_n, c_n))``: ``y`` is ``(T, B, P)`` (or packed ``(sum B_t, P)``), and
        ``h_n, c_n`` are each sequence's state after its last valid step.

    The loop is the same for padded and packed input; the lines marked "packed" keep the books
    when sequences end (or, in reverse, start) at different steps, and do nothing otherwise
    (:func:`_running` and :func:`_final_state`, below, work through an example).
    """
    packed = batch_sizes is not None
    xs = x.split(batch_sizes) if packed else x.unbind(0)  # x_t for t = 0..T-1, each (B, I) (packed: (B_t, I))
    T = len(xs)
    if T == 0:
        raise empty_sequence_error(x.shape, time_dim=None if packed else 0)
    ys: list[Tensor | None] = [None] * T  # y_t = h_t (h_proj_t when projecting), in time order
    if trace is not None:
        trace[:] = [None] * T

    h, c = h0, c0  # h_{-1}, c_{-1}
    if packed and reverse:  # packed: no sequence has started before the last step
        h, c = h0[:0], c0[:0]
    ended: list[tuple[Tensor, Tensor]] = []  # packed: the final states of sequences that ended
    for t in reversed(range(T)) if reverse else range(T):
        if packed:  # only the first B_t sequences have a step t
            h, c = _running(h, c, h0, c0, batch_sizes[t], ended)
        step = cell(xs[t], h, c, w_ih, w_hh, b_ih, b_hh, w_hr)  # h_t, c_t from x_t, h_{t-1}, c_{t-1}
        h, c = step.state, step.c  # (B, P), (B, H): what step t+1 reads
        ys[t] = h
        if trace is not None:
            trace[t] = step

    if packed:
        return torch.cat(ys), _final_state(h, c, ended)  # (sum B_t, P); (B, P), (B, H)
    return torch.stack(ys), (h, c)  # y (T, B, P); h_n, c_n: the state after the last step processed


def _running(h: Tensor, c: Tensor, h0: Tensor, c0: Tensor, B_t: int,
             ended: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Packed input: the state rows of the ``B_t`` sequences that have a step t.

    Three sequences of lengths 3, 2, 1 (sorted, longest first) give ``batch_sizes = [3, 2, 1]``:
    step 0 holds rows 0-2, step 1 rows 0-1, step 2 row 0. Going forward the batch only shrinks:
    before step 1, row 2 (length 1) has ended, so its state is set aside in ``ended`` and the loop
    carries rows 0-1; before step 2, row 1 joins it. Going in reverse the batch only grows: the
    loop starts with no rows; step 2 is the first step of row 0 alone, which starts from its
    initial state ``h0[0:1]``; at step 1 row 1 starts from ``h0[1:2]``, and at step 0 row 2 from
    ``h0[2:3]``. (Every sequence then ends at step 0, so nothing is set aside.)
    """
    if B_t < h.size(0):  # forward: the shortest sequences just ended
        ended.append((h[B_t:], c[B_t:]))
        return h[:B_t], c[:B_t]
    if B_t > h.size(0):  # reverse: longer sequences start here, from their initial state
        return torch.cat([h, h0[h.size(0) : B_t]]), torch.cat([c, c0[c.size(0) : B_t]])
    return h, c


def _final_state(h: Tensor, c: Tensor, ended: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Packed input: ``(h_n, c_n)`` in batch order, ``(B, P)`` and ``(B, H)``.

    The rows still running are the longest sequences (rows 0, 1, ...); ``ended`` holds the others
    in the order they ended, shortest last in the batch first: in the example of
    :func:`_running`, ``[row 2, row 1]``, so ``h_n`` is the running row 0 followed by ``ended``
    reversed: rows 0, 1, 2.
    """
    h_n = torch.cat([h] + [eh for eh, _ in reversed(ended)])
    c_n = torch.cat([c] + [ec for _, ec in reversed(ended)])
    return h_n, c_n
