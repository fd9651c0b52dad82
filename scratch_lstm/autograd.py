r"""The autograd glue that every hand-derived LSTM layer shares (the fused and the Triton one).

Skippable on the reading path: nothing here is about the LSTM. It is what a
:class:`torch.autograd.Function` needs around a hand-derived backward to behave like autograd.

A layer Function is a :class:`torch.autograd.Function` whose backward is derived by hand
(:mod:`scratch_lstm.fused` derives it; :mod:`scratch_lstm.triton_lstm` runs it as kernels). Both
follow one protocol, so everything around the derivative lives here, once:

- ``apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse)`` and a ``forward`` that returns
  ``(y, h_n, c_n, *intermediates)``: ``torch.func`` lets a backward use only inputs and outputs,
  so what the first-order backward needs comes back as extra outputs, marked non-differentiable
  (:func:`setup_layer_context`) and dropped by :func:`run_layer`.
- Higher-order gradients (``create_graph=True``, gradient penalties, ``torch.func.grad`` of
  ``torch.func.grad``): the hand-derived backward is first-order only, so when a backward must
  itself be differentiable the layer is recomputed through the teaching path
  (:func:`scratch_lstm.lstm_layer` on the saved inputs) and differentiated there
  (:func:`backward_through_equations`); :func:`layer_backward` picks which runs.
- ``torch.func``: ``setup_context`` (so ``grad``/``vjp``/``jacrev`` work), a ``jvp`` for forward
  mode (``jvp``/``jacfwd``/``hessian``, ``torch.autograd.forward_ad``), again through the teaching
  path (:func:`layer_jvp`), and a ``vmap`` rule (:func:`vmap_layer`).
- Autocast: the layer computes in the dtype of its inputs with autocast off, forward and
  backward; :class:`scratch_lstm.LSTM` casts its inputs and results around it as ``nn.LSTM`` does.
- Empty input: batch size 0 runs (empty outputs, zero weight gradients); a sequence of length 0
  raises ``nn.LSTM``'s ``RuntimeError``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .autocast import autocast_disabled
from .checks import check_has_steps
from .layer import lstm_layer


def setup_layer_context(ctx, inputs: tuple, output: tuple) -> None:
    """The ``setup_context`` of an LSTM layer Function (forward written without ``ctx``).

    ``inputs`` are apply's 9 arguments, ``output`` is forward's ``(y, h_n, c_n,
    *intermediates)``. Marks the intermediates non-differentiable, turns off the materialising
    of zero gradients (so no zeros are made for them; :func:`layer_backward` makes the ones it
    needs), and saves the 8 tensor inputs, ``y`` and the intermediates (not ``h_n``, ``c_n``),
    which :func:`layer_backward` unpacks in that order. The 8 inputs are also saved for
    forward-mode AD (:func:`layer_jvp`).
    """
    *tensors, reverse = inputs
    y, _, _, *intermediates = output
    ctx.reverse = reverse
    ctx.n_intermediates = len(intermediates)
    ctx.mark_non_differentiable(*(t for t in intermediates if t is not None))
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(*tensors, y, *intermediates)
    ctx.save_for_forward(*tensors)


def layer_backward(ctx, grad_outputs: tuple, first_order) -> tuple:
    """The ``backward`` of an LSTM layer Function: picks the derivation that is exact here.

    ``grad_outputs`` is ``(dy, dh_n, dc_n)``, ``None`` where an output got no gradient.
    ``first_order(inputs, reverse, saved, grad_outputs, needs_input_grad)`` is the Function's
    hand-derived backward: it gets the 8 saved tensor inputs, ``saved = (y, *intermediates)``
    from forward, zero-filled ``grad_outputs`` and ``ctx.needs_input_grad[:8]``, and returns 8
    gradients. It runs when the backward need not be differentiable (grad mode off inside
    backward: the ordinary ``loss.backward()``), under ``no_grad`` and with autocast off. When
    grad mode is on inside backward (``create_graph=True``, and every ``torch.func`` transform)
    or the gradients are batched (``is_grads_batched``) or wrapped by ``torch.func``,
    :func:`backward_through_equations` runs instead, so the gradient is itself differentiable
    (and the batched gradients meet only ops that have batching rules). Returns the 9
    gradients for apply.
    """
    inputs, saved = ctx.saved_tensors[:8], ctx.saved_tensors[8:]
    like = (saved[0], inputs[1], inputs[2])  # y; h_n and c_n have the shapes of h0 and c0
    grad_outputs = tuple(torch.zeros_like(t) if g is None else g for g, t in zip(grad_outputs, like))
    needs_input_grad = ctx.needs_input_grad[:8]
    if torch.is_grad_enabled() or any(_is_transformed(g) for g in grad_outputs):
        grads = backward_through_equations(inputs, ctx.reverse, grad_outputs, needs_input_grad)
    else:
        with autocast_disabled(inputs[0].device.type):
            grads = first_order(inputs, ctx.reverse, saved, grad_outputs, needs_input_grad)
    return (*grads, None)


def run_layer(function, inference, tensors: tuple, reverse: bool):
    """How a layer function runs an LSTM layer Function: ``(y, (h_n, c_n))``.

    ``tensors`` are the 8 tensor inputs. When a gradient may be asked for (grad mode with an
    input that requires grad, or any ``torch.func`` transform), ``function.apply``; otherwise
    ``inference(*tensors, reverse)``, the forward alone, which keeps nothing for a backward.
    Either way with autocast off, and ``T = 0`` raises ``nn.LSTM``'s ``RuntimeError``.
    """
    x = tensors[0]
    check_has_steps(x)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if needs_grad or torch._C._are_functorch_transforms_active():
        y, h_n, c_n, *_ = function.apply(*tensors, reverse)
        return y, (h_n, c_n)
    with autocast_disabled(x.device.type):
        return inference(*tensors, reverse)


def _is_transformed(t: Tensor) -> bool:
    """Whether ``t`` is wrapped by a ``torch.func`` transform or batched by ``is_grads_batched``."""
    functorch = torch._C._functorch
    return functorch.is_functorch_wrapped_tensor(t) or functorch.is_legacy_batchedtensor(t)


def backward_through_equations(
    inputs: tuple, reverse: bool, grad_outputs: tuple, needs_input_grad: tuple
) -> tuple:
    """Gradients of one layer-direction by autograd through the teaching path; differentiable.

    ``inputs`` are the 8 tensor inputs ``(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)`` (biases
    and ``w_hr`` may be ``None``), as saved by the Function, still connected to the caller's
    graph; ``grad_outputs`` is ``(dy, dh_n, dc_n)``. Recomputes
    ``lstm_layer(*inputs, reverse=reverse)`` and returns its vector-Jacobian product with
    ``grad_outputs``: 8 gradients, ``None`` where ``needs_input_grad`` is false. The result
    carries a graph back to the inputs and to ``grad_outputs``, so double backward (and
    higher) is autograd's through the gate equations, the same numbers as ``nn.LSTM``'s.

    It costs one forward of the teaching path and its autograd backward, and runs only when a
    differentiable backward is asked for. ``torch.func.vjp`` (not ``torch.autograd.grad``)
    differentiates the recomputation: it works under plain autograd with ``create_graph=True``
    and inside ``torch.func`` transforms, whose saved inputs ``torch.autograd.grad`` cannot
    differentiate. Autocast is off, as in the forward.
    """
    wanted = [k for k, need in enumerate(needs_input_grad) if need]
    grads: list[Tensor | None] = [None] * len(inputs)
    if not wanted:
        return tuple(grads)
    layer = _layer_of(inputs, wanted, reverse)
    with autocast_disabled(inputs[0].device.type):
        _, vjp = torch.func.vjp(layer, *(inputs[k] for k in wanted))
        for k, grad in zip(wanted, vjp(tuple(grad_outputs))):
            grads[k] = grad
    return tuple(grads)


def _layer_of(inputs: tuple, wanted: list[int], reverse: bool):
    """``lstm_layer`` on ``inputs`` as a function of the inputs at positions ``wanted`` only,
    returning ``(y, h_n, c_n)``: what ``torch.func`` differentiates."""
    def layer(*primals):
        args = list(inputs)
        for k, primal in zip(wanted, primals):
            args[k] = primal
        y, (h_n, c_n) = lstm_layer(*args, reverse=reverse)
        return y, h_n, c_n

    return layer


def layer_jvp(ctx, tangents: tuple) -> tuple:
    """The ``jvp`` of an LSTM layer Function (forward-mode AD: ``torch.func.jvp``, ``jacfwd``,
    ``hessian``): the layer's directional derivative, by forward-mode AD through the teaching path.

    ``tangents`` are the tangents of apply's 9 arguments (``None`` where an input has none).
    Recomputes ``lstm_layer`` on the inputs saved by :func:`setup_layer_context` and
    differentiates it forward, so the numbers are autograd's through the gate equations, like
    ``nn.LSTM``'s. Returns tangents for ``(y, h_n, c_n)`` and ``None`` for the intermediates.
    """
    inputs = ctx.saved_tensors  # in jvp: what save_for_forward kept, the 8 tensor inputs
    wanted = [k for k, t in enumerate(tangents[:8]) if t is not None]
    layer = _layer_of(inputs, wanted, ctx.reverse)
    primals, tangents = tuple(inputs[k] for k in wanted), tuple(tangents[k] for k in wanted)
    # torch.func.jvp under torch.func transforms; inside a plain torch.autograd.forward_ad level
    # it cannot nest, so there the jvp comes from double backward (torch.autograd.functional).
    if torch._C._are_functorch_transforms_active():
        jvp = torch.func.jvp
    else:
        jvp = torch.autograd.functional.jvp
    with autocast_disabled(inputs[0].device.type):
        _, output_tangents = jvp(layer, primals, tangents)
    return (*output_tangents, *([None] * ctx.n_intermediates))


def vmap_layer(apply, info, in_dims: tuple, args: tuple, output_batch_dims: tuple):
    """The ``vmap`` rule of an LSTM layer Function; returns ``(outputs, out_dims)``.

    ``apply`` is the Function's apply, ``args`` its 9 arguments as vmap passes them (vmapped
    tensors with the vmapped dimension at ``in_dims[k]``, ``None`` where not vmapped) and
    ``output_batch_dims[k]`` the batch dimension of forward's k-th output (ignored where that
    output is ``None``). Two cases, both exact:

    - Only ``x``, ``h0``, ``c0`` are vmapped (the weights are shared): the N vmapped slices are
      N more sequences through the same LSTM, so they are folded into the batch dimension, one
      call with batch ``N*B``, and unfolded afterwards (rows of a batch never interact).
    - A weight is vmapped (N different LSTMs): one apply per slice, the results stacked.
    """
    N = info.batch_size
    if all(d is None for d in in_dims[3:8]):
        x_dim = in_dims[0]
        B = args[0].size(2 if x_dim is not None and x_dim <= 1 else 1)  # x is (T, B, I) per slice
        batch_dims = (1, 0, 0)  # of x (T, B, I), h0 (B, P), c0 (B, H)
        folded = [_fold(t, d, bd, N) for t, d, bd in zip(args[:3], in_dims[:3], batch_dims)]
        outputs = apply(*folded, *args[3:])  # batch N*B
        out_dims = tuple(None if o is None else d for o, d in zip(outputs, output_batch_dims))
        outputs = tuple(o if d is None else o.unflatten(d, (N, B)) for o, d in zip(outputs, out_dims))
        return outputs, out_dims
    per_slice = [
        apply(*(a if d is None else a.select(d, n) for a, d in zip(args, in_dims))) for n in range(N)
    ]
    outputs = tuple(None if o[0] is None else torch.stack(o) for o in zip(*per_slice))
    return outputs, tuple(None if o is None else 0 for o in outputs)


def _fold(t: Tensor, vmap_dim: int | None, batch_dim: int, N: int) -> Tensor:
    """Merge the vmapped dimension (size N) into ``batch_dim``: slice n gets rows n*B .. n*B+B-1."""
    if vmap_dim is None:
        t = t.unsqueeze(batch_dim).expand(*t.shape[:batch_dim], N, *t.shape[batch_dim:])
    else:
        t = t.movedim(vmap_dim, batch_dim)
    return t.flatten(batch_dim, batch_dim + 1)
