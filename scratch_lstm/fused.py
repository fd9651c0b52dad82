r"""The fast path (``impl="fused"``): one LSTM layer-direction with its backward derived by hand.

Read :mod:`scratch_lstm.cell` (the equations and the notation) and the plain backward through time,
:func:`scratch_lstm.gradient_flow.backward_through_time`, first: this file is the same derivation
made fast. It exists for the backward: the gradient of the loss through every step, worked out
with the chain rule instead of recorded by autograd. It is tested against autograd through the
teaching path and ``torch.autograd.gradcheck`` (``tests/test_fused.py``), against
``backward_through_time``, the plain version of the same recursion (ibid.), and against
``torch.nn.LSTM`` by the equivalence suite.

**The forward of one step** (cell.py's equations, in the code's row form ``x Wᵀ``)::

    z_t = x_t W_ihᵀ + h_{t-1} W_hhᵀ + b_ih + b_hh     (B, 4H) = [z_i | z_f | z_g | z_o]
    i_t = σ(z_i)   f_t = σ(z_f)   g_t = tanh(z_g)   o_t = σ(z_o)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)
    y_t = h_t, or with projection h_proj_t = h_t W_hrᵀ: the output, and the next step's h_{t-1}

**The backward, derived.** Write ``dv`` for ``∂L/∂v``, the total derivative: the sum over every
path by which ``v`` reaches the loss; ``dy_t`` is what the output ``y_t`` receives from above (the
loss, or the layer above). Going against the loop (t = T-1 down to 0; ``t+1`` and ``t-1`` swap
roles in the reverse direction), each line says what the forward did with a variable, then gives
the chain rule on it; ``[n]`` marks the line of :func:`_backward_loop` (or :func:`_add_block_grads`)
that computes it::

        y_t is the output and enters z_{t+1} as y_t W_hhᵀ: two paths
    [1] dh_t = dy_t + dh_t^rec,  dh_t^rec = dz_{t+1} W_hh     (projection: dh_proj_t = the same sum)
        with projection, h_proj_t = h_t W_hrᵀ, linear in h_t and in W_hr
    [2] dh_t = dh_proj_t W_hr                 (and [9] dW_hr = Σ_t dh_proj_tᵀ h_t)
        h_t = o_t ⊙ tanh(c_t), a product: the other factor times the incoming gradient
    [3] do_t = dh_t ⊙ tanh(c_t)
        c_t enters h_t through tanh (tanh' = 1 - tanh²), and c_{t+1} = f_{t+1} ⊙ c_t + ...
    [4] dc_t = dc_t^rec + dh_t ⊙ o_t ⊙ (1 - tanh²(c_t)),  dc_t^rec = dc_{t+1} ⊙ f_{t+1}
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, linear in each gate
    [5] di_t = dc_t ⊙ g_t      df_t = dc_t ⊙ c_{t-1}      dg_t = dc_t ⊙ i_t
        i_t = σ(z_i) with σ'(z) = σ(z)(1 - σ(z)), and f, o alike; g_t = tanh(z_g) with tanh' = 1 - g²
    [6] dz_t = [di_t ⊙ i_t(1 - i_t) | df_t ⊙ f_t(1 - f_t) | dg_t ⊙ (1 - g_t²) | do_t ⊙ o_t(1 - o_t)]
        z_t = x_t W_ihᵀ + h_{t-1} W_hhᵀ + b_ih + b_hh, linear in each; c_{t-1} enters c_t through f_t
    [7] dh_{t-1}^rec = dz_t W_hh      dc_{t-1}^rec = dc_t ⊙ f_t           (sent to step t-1)
    [8] dx_t = dz_t W_ih      dW_ih = Σ_t dz_tᵀ x_t      dW_hh = Σ_t dz_tᵀ h_{t-1}
        db_ih = db_hh = Σ_t Σ_b dz_t      (summed over the steps and the batch rows)

At the ends: the last step processed starts from ``dh^rec = dh_n`` and ``dc^rec = dc_n`` (the
gradients of the final states), and what the first step sends back, ``dh_{-1}^rec`` and
``dc_{-1}^rec``, are the gradients of the initial state ``h0, c0`` (h_{-1}, c_{-1}). The weight
gradients are sums over steps, so they need no step-by-step products: one GEMM per block of
steps (:func:`_add_block_grads`) adds a block's ``dz_tᵀ x_t`` and ``dz_tᵀ h_{t-1}``.
``backward_through_time`` runs lines [1], [3] to [7] and [8]'s ``dx_t`` one by one, as written.

**What makes it fast, without changing the numbers' meaning:**

1. The input projection of *all* steps is one GEMM before the loop: ``Z_x = X W_ihᵀ``,
   ``(T*B, 4H)`` (in inference, one GEMM per block of steps into a reused buffer); each step
   then adds ``h_{t-1} W_hhᵀ`` and the biases.
2. No tanh: ``tanh(z) = 2σ(2z) - 1``. On the CPU this was written for, torch's tanh costs
   several times its sigmoid, and four in-place ops on the sigmoid beat one tanh; on another CPU
   it can be the other way round, so the trick is a per-machine choice, not a law (the figures,
   and where each was measured, are at the end of this docstring).
   Doubling the g rows of the weights and biases makes the g block of ``z`` hold ``2 z_g``, so
   one in-place ``torch.sigmoid_`` per step gives all four gates, ``[i | f | σ(2 z_g) | o]``, and
   ``g = 2σ(2 z_g) - 1``. The buffer keeps ``s_g = σ(2 z_g)``, not ``g``: that lets the backward
   treat all four blocks alike, in one ``dz.mul_(torch.addcmul(s, s, s, value=-1))`` (``s - s²``,
   σ' of what each block holds). For the g block that leaves a factor to add:
   ``tanh'(z_g) = 1 - g² = 4 s_g(1 - s_g)``, hence the ``mul_(4)`` on the g block before it.
   (The Triton kernels compute each gate on its own and store ``g`` itself, using ``1 - g²``:
   the same number, written the textbook way.) ``tanh(c_t)`` is computed the same way, as
   ``2σ(2 c_t) - 1``.
3. Results go into preallocated ``(T, B, ·)`` buffers instead of per-step lists; elementwise
   work stays per step, on blocks that fit in cache. The backward keeps the ``dz_t`` of one
   block of steps (2,048 rows: 16 steps at B = 128) in a reused buffer and adds that block's
   weight gradients when it is done, so no ``(T, B, 4H)`` gradient tensor is allocated.
4. Autograd records nothing inside the loop: :class:`LSTMLayerFunction` saves the gate
   activations (returned as non-differentiable extra outputs, as ``torch.func`` requires) and
   runs the backward above.

Everything else a layer Function needs (higher-order and forward-mode gradients through the
teaching path, ``torch.func``, ``vmap``, autocast, empty batches) is shared with the Triton path
and lives in :mod:`scratch_lstm.autograd` (skippable on a first reading). Next, and last:
:mod:`scratch_lstm.triton_lstm`, the same equations as GPU kernels (advanced).

**Measured** (``python benchmarks/activations.py --threads 1``, a ``(128, 128)`` float32 block,
one thread, torch 2.14.1; dated in docs/performance.md): on a 2-core AMD EPYC (three runs, alone)
tanh 32.6-33.7 µs, sigmoid 3.9-4.0 µs, ``2σ(2z) - 1`` in four in-place ops 10.4-11.2 µs: the
trick is three times faster there. On an Intel Xeon with AVX-512 the same benchmark gave tanh
5.2-9.5 µs and sigmoid 6.8-23.5 µs: there torch's tanh is no dearer than its sigmoid, and the
trick is slower than a plain tanh.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .autocast import autocast_disabled
from .autograd import layer_backward, layer_jvp, run_layer, setup_layer_context, vmap_layer

_BLOCK_ROWS = 1024  # rows (steps x batch) of the input projection computed at once in inference
_GRAD_BLOCK_ROWS = 2048  # rows (steps x batch) of gate gradients dz_t per weight-gradient GEMM


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
    # x_t W_ihᵀ for every step: one GEMM over all steps when training (the backward keeps S);
    # in inference, GEMMs over blocks of steps into one reused buffer, so no (T, B, 4H) tensor
    # is allocated (on the CPU, first touching a fresh large buffer costs more than the GEMM).
    S = (x.reshape(T * B, I) @ w_ih2.t()).view(T, B, 4 * H) if keep else None
    block = max(1, _BLOCK_ROWS // max(B, 1))  # steps per block in inference (B may be 0)
    buffer = None if keep else x.new_empty(min(block, T), B, 4 * H)
    C = x.new_empty(T, B, H) if keep else None  # c_t, for the backward
    TC = x.new_empty(T, B, H) if keep else None  # tanh(c_t)
    Y = x.new_empty(T, B, P)  # y_t: h_t, or h_proj_t with projection
    Hs = x.new_empty(T, B, H) if keep and w_hr is not None else None  # h_t (unprojected), for dW_hr
    y, c = h0, c0  # what step 0 reads: h_{-1}, c_{-1}
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
        s.addmm_(y, w_hh2.t())  # x_t W_ihᵀ + h_{t-1} W_hhᵀ   (g rows doubled; h_{t-1} is y_{t-1})
        if b2 is not None:
            s.add_(b2)  # z_t = ... + b_ih + b_hh, per step while s is in cache (over all steps is slow)
        torch.sigmoid_(s)  # i_t, f_t, σ(2 z_g), o_t
        i, f, s_g, o = s.chunk(4, dim=1)  # each (B, H)
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t with g_t = 2σ(2 z_g) - 1, as (f_t ⊙ c_{t-1} - i_t) + 2 i_t ⊙ σ(2 z_g)
        c = torch.addcmul((f * c).sub_(i), i, s_g, value=2, out=C[t] if keep else None)
        # tanh(c_t) = 2σ(2 c_t) - 1, by the sigmoid (cheaper than torch's tanh: module docstring)
        tc = torch.mul(c, 2, out=TC[t] if keep else None).sigmoid_().mul_(2).sub_(1)
        if w_hr is None:
            y = torch.mul(o, tc, out=Y[t])  # y_t = h_t = o_t ⊙ tanh(c_t)
        else:
            h = torch.mul(o, tc, out=Hs[t] if keep else None)  # h_t = o_t ⊙ tanh(c_t)
            y = torch.mm(h, w_hr.t(), out=Y[t])  # y_t = h_proj_t = h_t W_hrᵀ
    return S, C, TC, Y, Hs, y, c


def _backward_loop(inputs, reverse, outputs, grad_outputs, needs_input_grad):
    """The hand-derived backward through time: lines [1] to [9] of the module docstring, first-order,
    no autograd. ``backward_through_time`` (gradient_flow.py) is the same recursion, plain.

    The gate gradients dz_t of a block of steps go into one reused ``(steps, B, 4H)`` buffer,
    and the weight gradients are summed block by block (:func:`_add_block_grads`), so no
    ``(T, B, 4H)`` tensor is allocated.
    """
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = inputs
    Y, S, C, TC, Hs = outputs
    dY, dh_n, dc_n = grad_outputs
    T, B, I = x.shape
    H = C.size(2)
    grads = {"w_ih": torch.zeros_like(w_ih), "w_hh": torch.zeros_like(w_hh),
             "b": torch.zeros_like(b_ih) if b_ih is not None else None,
             "w_hr": torch.zeros_like(w_hr) if w_hr is not None else None,
             "x": x.new_empty(x.shape) if needs_input_grad[0] else None}  # contiguous, as x may not be
    block = max(1, _GRAD_BLOCK_ROWS // max(B, 1))  # steps per block of dz_t
    dZ = S.new_empty(min(block, T), B, 4 * H)  # dz_t of one block of steps
    dHp = Y.new_empty(min(block, T), B, Y.size(2)) if w_hr is not None else None  # dh_proj_t, for [9]
    one = C.new_ones(())  # the 1 of 1 - tanh²(c_t)
    dh_rec, dc_rec = dh_n, dc_n  # what the last step processed receives: the final state's gradients
    order = list(range(T)) if reverse else list(reversed(range(T)))
    # Per step, so every operand stays in cache (whole-sequence elementwise ops are slower).
    for n, t in enumerate(order):
        if n % block == 0:  # a new block: steps order[n : n + block], stored at t - lo
            ts = order[n : n + block]
            lo, hi = min(ts), max(ts) + 1
        prev = t + 1 if reverse else t - 1  # the step that fed this one
        c_prev = c0 if prev in (-1, T) else C[prev]
        s, tc = S[t], TC[t]  # [σ(z_i) | σ(z_f) | σ(2 z_g) | σ(z_o)] and tanh(c_t)
        i, f, s_g, o = s.chunk(4, dim=1)
        dh = dY[t] + dh_rec  # [1] dh_t = dy_t + dh_t^rec   (projection: dh_proj_t)
        if w_hr is not None:
            dHp[t - lo] = dh  # dh_proj_t, for [9]
            dh = dh @ w_hr  # [2] dh_t = dh_proj_t W_hr
        # [4] dc_t = dc_t^rec + dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
        dc = torch.addcmul(dc_rec, dh * o, torch.addcmul(one, tc, tc, value=-1))
        dz = dZ[t - lo]  # (B, 4H): [5] and [3] go into its four blocks, then [6] in place
        torch.addcmul(-dc, dc, s_g, value=2, out=dz[:, :H])  # [5] di_t = dc_t ⊙ g_t = dc_t ⊙ (2σ(2z_g) - 1)
        torch.mul(dc, c_prev, out=dz[:, H : 2 * H])  # [5] df_t = dc_t ⊙ c_{t-1}
        torch.mul(dc, i, out=dz[:, 2 * H : 3 * H]).mul_(4)  # [5] dg_t = dc_t ⊙ i_t, times 4 (point 2 above)
        torch.mul(dh, tc, out=dz[:, 3 * H :])  # [3] do_t = dh_t ⊙ tanh(c_t)
        # [6] dz_t = [di_t ⊙ i_t(1-i_t) | df_t ⊙ f_t(1-f_t) | dg_t ⊙ (1-g_t²) | do_t ⊙ o_t(1-o_t)]: each
        # block times s - s², σ' of what it holds (the g block's 4 s_g(1 - s_g) = 1 - g_t²)
        dz.mul_(torch.addcmul(s, s, s, value=-1))
        dc_rec = dc * f  # [7] dc_{t-1}^rec = dc_t ⊙ f_t
        dh_rec = dz @ w_hh  # [7] dh_{t-1}^rec = dz_t W_hh
        if n % block == block - 1 or n == T - 1:
            _add_block_grads(grads, inputs, lo, hi, dZ[: hi - lo], dHp, Y, Hs, reverse)  # [8], [9]
    # dh_{-1}^rec and dc_{-1}^rec: the gradients of the initial state h0, c0
    return grads["x"], dh_rec, dc_rec, grads["w_ih"], grads["w_hh"], grads["b"], grads["b"], grads["w_hr"]


def _add_block_grads(grads, inputs, lo, hi, dZ, dHp, Y, Hs, reverse):
    """Add the weight gradients of steps ``lo .. hi-1`` (their dz_t in ``dZ``, ``(hi-lo, B, 4H)``),
    and write their dx_t: lines [8] and [9] of the module docstring::

        dW_ih += Σ_t dz_tᵀ x_t    dW_hh += Σ_t dz_tᵀ h_{t-1}    db += Σ_t Σ_b dz_t    dx_t = dz_t W_ih
        dW_hr += Σ_t dh_proj_tᵀ h_t    (with projection; dh_proj_t in ``dHp``, h_t in ``Hs``)
    """
    x, h0, _, w_ih, _, _, _, _ = inputs
    T, B, I = x.shape
    n, P, H4 = hi - lo, Y.size(2), dZ.size(2)
    dZ2 = dZ.reshape(n * B, H4)  # (n B, 4H)
    grads["w_ih"].addmm_(dZ2.t(), x[lo:hi].reshape(n * B, I))  # [8] dW_ih += Σ_t dz_tᵀ x_t
    if grads["x"] is not None:
        torch.mm(dZ2, w_ih, out=grads["x"][lo:hi].view(n * B, I))  # [8] dx_t = dz_t W_ih
    if grads["b"] is not None:
        grads["b"] += dZ2.sum(0)  # [8] db += Σ_t Σ_b dz_t: the sum over the block's steps and rows
    # [8] dW_hh += Σ_t dz_tᵀ h_{t-1}: h_{t-1} is Y of the neighbouring step, or h0 for the step that read it
    first = T - 1 if reverse else 0  # the step that read h0
    if lo <= first < hi:
        grads["w_hh"].addmm_(dZ[first - lo].t(), h0)
    inner = slice(lo, min(hi, T - 1)) if reverse else slice(max(lo, 1), hi)  # steps after the first
    if inner.stop > inner.start:
        fed_by = slice(inner.start + 1, inner.stop + 1) if reverse else slice(inner.start - 1, inner.stop - 1)
        rows = dZ[inner.start - lo : inner.stop - lo].reshape(-1, H4)  # (steps B, 4H)
        grads["w_hh"].addmm_(rows.t(), Y[fed_by].reshape(-1, P))
    if grads["w_hr"] is not None:  # [9] dW_hr += Σ_t dh_proj_tᵀ h_t
        H = Hs.size(2)
        grads["w_hr"].addmm_(dHp[:n].reshape(n * B, P).t(), Hs[lo:hi].reshape(n * B, H))


class LSTMLayerFunction(torch.autograd.Function):
    """One LSTM layer-direction over a ``(T, B, I)`` sequence with the backward derived by hand.

    ``apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse) -> (y, h_n, c_n, S, C, TC, Hs)``;
    biases and ``w_hr`` may be ``None``. The last four outputs are the saved gate activations,
    cell states, their tanh and (with projection, else ``None``) the unprojected h_t,
    non-differentiable, for the backward only. The first-order backward is derived in the
    module docstring; higher-order gradients, ``torch.func`` and vmap go through the shared
    helpers of :mod:`scratch_lstm.autograd`.
    """

    @staticmethod
    def forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
        with autocast_disabled(x.device.type):
            S, C, TC, Y, Hs, h_n, c_n = _forward_loop(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse)
        return Y, h_n.clone(), c_n.clone(), S, C, TC, Hs

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


_OUTPUT_BATCH_DIMS = (1, 0, 0, 1, 1, 1, 1)  # y, h_n, c_n, S, C, TC, Hs: (T, B, .) or (B, .)


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
