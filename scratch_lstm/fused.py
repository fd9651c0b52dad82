r"""The fast path: one LSTM layer-direction with a hand-derived backward pass through time.

Selected with ``LSTM(..., impl="fused")``; verified against ``torch.nn.LSTM`` by the same
equivalence suite as the teaching path. The forward computes the same gates as
:func:`scratch_lstm.lstm_step`, with changes that save time but not meaning:

1. The input projection of *all* steps is one GEMM before the loop: ``Z_x = X W_ih^T``,
   ``(T*B, 4H)`` (in inference, one GEMM per block of steps into a reused buffer); each step
   then adds ``h_{t-1} W_hh^T`` and the biases.
2. One sigmoid per step covers all four gates: the g rows of the weights and biases are doubled,
   so the g block holds ``σ(2 z_g)`` and ``g = tanh(z_g) = 2σ(2 z_g) - 1`` (torch's CPU tanh
   costs about twice its sigmoid on these shapes). Its derivative is ``4σ(2z_g)(1 - σ(2z_g))``.
3. Results go into preallocated ``(T, B, ·)`` buffers instead of per-step lists.
4. Autograd records nothing inside the loop: :class:`LSTMLayerFunction` saves the gate
   activations (returned as non-differentiable extra outputs, as ``torch.func`` requires) and
   runs the backward below, with the weight gradients as single GEMMs over all steps after the
   loop. Elementwise work stays per step, on blocks that fit in cache.

The other PyTorch modes (shared with the Triton Function through the module-level helpers
:func:`setup_layer_context`, :func:`layer_backward`, :func:`backward_through_equations`,
:func:`layer_jvp` and :func:`vmap_layer`):

- Higher-order gradients (``create_graph=True``, gradient penalties, ``torch.func.grad`` of
  ``torch.func.grad``): the hand-derived backward is first-order only, so when a backward must
  itself be differentiable it is computed instead by recomputing the layer through the teaching
  path (:func:`scratch_lstm.lstm_layer` on the saved inputs) and differentiating that
  (:func:`backward_through_equations`). The numbers are then autograd's through the equations.
- ``torch.func``: the Function has ``setup_context`` (so ``torch.func.grad``/``vjp``/``jacrev``
  work), a ``jvp`` for forward mode (``torch.func.jvp``/``jacfwd``/``hessian``,
  ``torch.autograd.forward_ad``), again through the teaching path (:func:`layer_jvp`), and a
  ``vmap`` rule (:func:`vmap_layer`).
- Autocast: the layer computes in the dtype of its inputs with autocast disabled, forward and
  backward; :class:`scratch_lstm.LSTM` casts its inputs and results around it as ``nn.LSTM`` does.
- Empty input: batch size 0 runs (empty outputs, zero weight gradients); a sequence of length 0
  raises ``nn.LSTM``'s ``RuntimeError``.

Backward through time (per step, going against the direction of the forward loop). With
``m_t = o_t ⊙ tanh(c_t)`` and ``h_t = m_t`` (or ``W_hr m_t`` with projection)::

    dh_t  = dy_t + dh_{t+1}^{rec}                     output grad plus what step t+1 sent back
    dm_t  = dh_t                (projection: dh_t W_hr,   and dW_hr += dh_t^T m_t)
    do_t  = dm_t ⊙ tanh(c_t)
    dc_t  = dc_{t+1}^{rec} + dm_t ⊙ o_t ⊙ (1 - tanh²(c_t))
    di_t  = dc_t ⊙ g_t,   df_t = dc_t ⊙ c_{t-1},   dg_t = dc_t ⊙ i_t
    dc_{t}^{rec} = dc_t ⊙ f_t                          sent to step t-1
    dz_t  = [di ⊙ i(1-i) | df ⊙ f(1-f) | dg ⊙ (1-g²) | do ⊙ o(1-o)]    through σ' and tanh'
    dh_{t}^{rec} = dz_t W_hh                           sent to step t-1

and after the loop, summing over steps and batch::

    dW_ih = Σ_t dz_t^T x_t      dW_hh = Σ_t dz_t^T h_{t-1}      db_ih = db_hh = Σ_t dz_t
    dx_t  = dz_t W_ih           dh_0 = dh_0^{rec}               dc_0 = dc_0^{rec}

(``t+1`` and ``t-1`` swap roles for the reverse direction.)
"""

from __future__ import annotations

import torch
from torch import Tensor

from .lstm import empty_sequence_error, lstm_layer
from .modes import autocast_disabled

_BLOCK_ROWS = 1024  # rows (steps x batch) of the input projection computed at once in inference


def _forward_loop(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse, keep=True):
    """The forward over all steps; with ``keep=False`` (inference) c_t and tanh(c_t) are not kept."""
    T, B, I = x.shape
    H = w_hh.size(0) // 4
    P = w_hh.size(1)
    g_rows = slice(2 * H, 3 * H)
    # tanh(z) = 2σ(2z) - 1: doubling the g rows lets one sigmoid cover all four gates per step.
    w_ih2, w_hh2 = w_ih.clone(), w_hh.clone()
    w_ih2[g_rows] *= 2
    w_hh2[g_rows] *= 2
    b2 = None
    if b_ih is not None:
        b2 = b_ih + b_hh  # (4H,)
        b2[g_rows] *= 2
    order = list(reversed(range(T))) if reverse else list(range(T))
    # x_t W_ih^T for every step: one GEMM over all steps when training (the backward keeps S);
    # in inference, GEMMs over blocks of steps into one reused buffer, so no (T, B, 4H) tensor
    # is allocated (on the CPU, first touching a fresh large buffer costs more than the GEMM).
    S = (x.reshape(T * B, I) @ w_ih2.t()).view(T, B, 4 * H) if keep else None
    block = max(1, _BLOCK_ROWS // max(B, 1))  # steps per block in inference (B may be 0)
    buffer = None if keep else x.new_empty(min(block, T), B, 4 * H)
    C = x.new_empty(T, B, H) if keep else None  # c_t, for the backward
    TC = x.new_empty(T, B, H) if keep else None  # tanh(c_t)
    Y = x.new_empty(T, B, P)  # h_t (projected if w_hr)
    M = x.new_empty(T, B, H) if keep and w_hr is not None else None  # o_t ⊙ tanh(c_t), unprojected
    h, c = h0, c0
    for n, t in enumerate(order):
        if keep:
            s = S[t]  # (B, 4H), becomes [σ(z_i) | σ(z_f) | σ(2 z_g) | σ(z_o)] in place
        else:
            if n % block == 0:  # project the next block of steps, in processing order
                ts = order[n : n + block]
                lo, hi = min(ts), max(ts) + 1
                projected = buffer[: hi - lo]
                torch.mm(x[lo:hi].reshape(-1, I), w_ih2.t(), out=projected.view(-1, 4 * H))
            s = projected[t - lo]
        s.addmm_(h, w_hh2.t())  # z_t = x_t W_ih^T + h_{t-1} W_hh^T + b   (g rows doubled)
        if b2 is not None:
            s.add_(b2)  # per step, while s is in cache (a broadcast over all steps is slow)
        torch.sigmoid_(s)  # i_t, f_t, σ(2 z_g), o_t
        i, f, s_g, o = s.chunk(4, dim=1)  # each (B, H)
        g = s_g * 2 - 1  # g_t = tanh(z_g) = 2σ(2 z_g) - 1
        c = torch.addcmul(f * c, i, g, out=C[t] if keep else None)  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        tc = torch.tanh(c, out=TC[t] if keep else None)
        if w_hr is None:
            h = torch.mul(o, tc, out=Y[t])  # h_t = o_t ⊙ tanh(c_t)
        else:
            m = torch.mul(o, tc, out=M[t] if keep else None)
            h = torch.mm(m, w_hr.t(), out=Y[t])  # h_t = W_hr (o_t ⊙ tanh(c_t))
    return S, C, TC, Y, M, h, c


def _backward_loop(inputs, reverse, outputs, grad_outputs, needs_input_grad):
    """The hand-derived backward through time (module docstring); first-order, no autograd."""
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = inputs
    Y, S, C, TC, M = outputs
    dY, dh_n, dc_n = grad_outputs
    T, B, I = x.shape
    H = C.size(2)
    dZ = torch.empty_like(S)  # (T, B, 4H) gradients of the gate pre-activations z_t
    dH = torch.empty_like(Y) if w_hr is not None else None  # dh_t, for dW_hr
    dh, dc = dh_n, dc_n
    # Per step, so every operand stays in cache (whole-sequence elementwise ops are slower).
    for t in range(T) if reverse else reversed(range(T)):
        prev = t + 1 if reverse else t - 1  # the step that fed this one
        c_prev = c0 if prev in (-1, T) else C[prev]
        s, tc = S[t], TC[t]
        i, f, s_g, o = s.chunk(4, dim=1)
        g = s_g * 2 - 1  # g_t = 2σ(2 z_g) - 1
        dh = dY[t] + dh  # dh_t = dy_t + dh_t^rec
        if w_hr is not None:
            dH[t] = dh
            dm = dh @ w_hr  # dm_t = dh_t W_hr
        else:
            dm = dh
        dc = torch.addcmul(dc, dm * o, 1 - tc * tc)  # dc_t = dc^rec + dm ⊙ o ⊙ (1 - tanh²c)
        dz = dZ[t]
        torch.mul(dc, g, out=dz[:, :H])  # di_t = dc_t ⊙ g_t
        torch.mul(dc, c_prev, out=dz[:, H : 2 * H])  # df_t = dc_t ⊙ c_{t-1}
        torch.mul(dc, i, out=dz[:, 2 * H : 3 * H]).mul_(4)  # 4 dg_t: tanh'(z) = 4σ(2z)(1-σ(2z))
        torch.mul(dm, tc, out=dz[:, 3 * H :])  # do_t = dm_t ⊙ tanh(c_t)
        dz.mul_(s).mul_(1 - s)  # through σ'(z) = σ(1-σ): dz_t = [di σ'_i | df σ'_f | dg tanh'_g | do σ'_o]
        dc = dc * f  # dc^rec sent to the previous step
        dh = dz @ w_hh  # dh^rec sent to the previous step

    dZ2 = dZ.view(T * B, 4 * H)
    dx = (dZ2 @ w_ih).view(T, B, I) if needs_input_grad[0] else None  # dx_t = dz_t W_ih
    dw_ih = dZ2.t() @ x.reshape(T * B, I)  # Σ dz_t^T x_t
    first = T - 1 if reverse else 0  # the step that read h0
    rest = slice(0, T - 1) if reverse else slice(1, T)
    prev_rest = slice(1, T) if reverse else slice(0, T - 1)
    dw_hh = dZ[first].t() @ h0  # Σ dz_t^T h_{t-1}
    if T > 1:
        dw_hh.addmm_(dZ[rest].reshape(-1, 4 * H).t(), Y[prev_rest].reshape(-1, Y.size(2)))
    db = dZ2.sum(0) if b_ih is not None else None
    dw_hr = dH.view(T * B, Y.size(2)).t() @ M.view(T * B, H) if w_hr is not None else None
    return dx, dh, dc, dw_ih, dw_hh, db, db, dw_hr


# ---- Shared by every LSTM layer Function (this one and the Triton one) ------------------------
#
# A layer Function's apply takes (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse) and its
# forward returns (y, h_n, c_n, *intermediates): torch.func allows a backward to use only inputs
# and outputs, so what the first-order backward needs is returned as extra outputs, marked
# non-differentiable, and dropped by the caller.


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
    if x.size(0) == 0:
        raise empty_sequence_error(x.shape, time_dim=0)
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


class LSTMLayerFunction(torch.autograd.Function):
    """One LSTM layer-direction over a ``(T, B, I)`` sequence with the backward derived by hand.

    ``apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse) -> (y, h_n, c_n, S, C, TC, M)``;
    biases and ``w_hr`` may be ``None``. The last four outputs are the saved gate activations,
    cell states, their tanh and (with projection, else ``None``) the unprojected hidden states,
    non-differentiable, for the backward only. The first-order backward is derived in the
    module docstring; higher-order gradients, ``torch.func`` and vmap go through the shared
    helpers above.
    """

    @staticmethod
    def forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
        with autocast_disabled(x.device.type):
            S, C, TC, Y, M, h_n, c_n = _forward_loop(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse)
        return Y, h_n.clone(), c_n.clone(), S, C, TC, M

    @staticmethod
    def setup_context(ctx, inputs, output):
        setup_layer_context(ctx, inputs, output)

    @staticmethod
    def backward(ctx, dY, dh_n, dc_n, *_):
        return layer_backward(ctx, (dY, dh_n, dc_n), _backward_loop)

    @staticmethod
    def jvp(ctx, *tangents):
        return layer_jvp(ctx, tangents)

    @staticmethod
    def vmap(info, in_dims, *args):
        return vmap_layer(LSTMLayerFunction.apply, info, in_dims, args, _OUTPUT_BATCH_DIMS)


_OUTPUT_BATCH_DIMS = (1, 0, 0, 1, 1, 1, 1)  # y, h_n, c_n, S, C, TC, M: (T, B, .) or (B, .)


def fused_lstm_layer(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Same contract as :func:`scratch_lstm.lstm_layer` for a padded ``(T, B, I)`` sequence.

    Without autograd (inference, ``torch.no_grad``) only the forward loop runs; otherwise (and
    under any ``torch.func`` transform) :class:`LSTMLayerFunction`. Computes in the dtype of its
    inputs with autocast off. Raises ``RuntimeError`` for ``T = 0``, as ``nn.LSTM`` does.
    """
    return run_layer(LSTMLayerFunction, _inference, (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr), reverse)


def _inference(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    *_, Y, _, h_n, c_n = _forward_loop(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse, keep=False)
    return Y, (h_n, c_n)
