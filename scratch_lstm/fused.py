r"""The fast path (``impl="fused"``): one LSTM layer-direction with its backward derived by hand.

Read :mod:`scratch_lstm.cell` first: the forward here computes the same gates. This file exists
for the backward: the gradient of the loss through every step, worked out with the chain rule
instead of recorded by autograd. Verified against ``torch.nn.LSTM`` by the same equivalence suite
as the teaching path, and against ``torch.autograd.gradcheck``.

**The forward of one step** (cell.py, with ``m_t`` the hidden state before any projection)::

    z_t = x_t W_ih^T + h_{t-1} W_hh^T + b          (B, 4H) = [z_i | z_f | z_g | z_o]
    i_t = σ(z_i)   f_t = σ(z_f)   g_t = tanh(z_g)   o_t = σ(z_o)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    m_t = o_t ⊙ tanh(c_t)          h_t = m_t   (with projection: h_t = m_t W_hr^T)

**The backward, derived.** Write ``dv`` for ``∂L/∂v``. Each gradient collects every path by
which its variable reaches the loss; for each, first what the forward did with the variable, then
the chain rule on it (going against the direction of the loop; ``t+1`` and ``t-1`` swap roles for
the reverse direction)::

    h_t is the output y_t and enters z_{t+1} as h_t W_hh^T
        dh_t = dy_t + dz_{t+1} W_hh                        (dz_{t+1} W_hh: "dh^rec", sent back by step t+1)
    m_t = h_t (projection: h_t = m_t W_hr^T, so also dW_hr += dh_t^T m_t)
        dm_t = dh_t                 (projection: dm_t = dh_t W_hr)
    m_t = o_t ⊙ tanh(c_t), a product: the other factor times the incoming gradient
        do_t = dm_t ⊙ tanh(c_t)
    c_t enters m_t through tanh, and c_{t+1} = f_{t+1} ⊙ c_t + ...
        dc_t = dm_t ⊙ o_t ⊙ (1 - tanh²(c_t)) + dc_{t+1} ⊙ f_{t+1}   (dc_{t+1} ⊙ f_{t+1}: "dc^rec")
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, linear in each gate
        di_t = dc_t ⊙ g_t      df_t = dc_t ⊙ c_{t-1}      dg_t = dc_t ⊙ i_t
    i = σ(z_i) and σ'(z) = σ(z)(1 - σ(z)); g = tanh(z_g) and tanh'(z) = 1 - tanh²(z)
        dz_t = [di ⊙ i(1-i) | df ⊙ f(1-f) | dg ⊙ (1-g²) | do ⊙ o(1-o)]
    z_t = x_t W_ih^T + h_{t-1} W_hh^T + b_ih + b_hh, linear in each
        dx_t = dz_t W_ih       dh_{t-1}^rec = dz_t W_hh       dc_{t-1}^rec = dc_t ⊙ f_t
        dW_ih = Σ_t dz_t^T x_t      dW_hh = Σ_t dz_t^T h_{t-1}      db_ih = db_hh = Σ_t dz_t

At the ends: the last step processed starts from ``dh^rec = dh_n`` and ``dc^rec = dc_n`` (the
gradients of the final states), and what the first step sends back is ``dh_0`` and ``dc_0``.
The weight gradients are sums over steps, so they need no step-by-step products: one GEMM per
block of steps (:func:`_add_block_grads`) adds a block's ``dz_t^T x_t`` and ``dz_t^T h_{t-1}``.

**What makes it fast, without changing the numbers' meaning:**

1. The input projection of *all* steps is one GEMM before the loop: ``Z_x = X W_ih^T``,
   ``(T*B, 4H)`` (in inference, one GEMM per block of steps into a reused buffer); each step
   then adds ``h_{t-1} W_hh^T`` and the biases.
2. One sigmoid per step covers all four gates. The identity ``tanh(z) = 2σ(2z) - 1`` turns the
   g gate into a sigmoid too. Doubling the g rows of the weights and biases makes the g block of
   ``z`` hold ``2 z_g``, so one in-place ``torch.sigmoid_`` gives ``[i | f | σ(2 z_g) | o]``
   (on the CPU, torch's tanh costs about twice its sigmoid on these shapes), and
   ``g = 2σ(2 z_g) - 1``. The buffer keeps ``s_g = σ(2 z_g)``, not ``g``: that lets the backward
   treat all four blocks alike, in one ``dz.mul_(s).mul_(1 - s)`` (σ' of what each block
   holds). For the g block that leaves a factor to add: ``tanh'(z_g) = 1 - g² = 4 s_g(1 - s_g)``,
   hence the ``mul_(4)`` on the g block before it. (The Triton kernels compute each gate on its
   own and store ``g`` itself, using ``1 - g²``: the same number, written the textbook way.)
   ``tanh(c_t)`` is computed the same way, as ``2σ(2 c_t) - 1`` (torch's CPU tanh costs about
   four times its sigmoid on a ``(128, 128)`` block).
3. Results go into preallocated ``(T, B, ·)`` buffers instead of per-step lists; elementwise
   work stays per step, on blocks that fit in cache. The backward keeps the ``dz_t`` of one
   block of steps (2,048 rows: 16 steps at B = 128) in a reused buffer and adds that block's
   weight gradients when it is done, so no ``(T, B, 4H)`` gradient tensor is allocated.
4. Autograd records nothing inside the loop: :class:`LSTMLayerFunction` saves the gate
   activations (returned as non-differentiable extra outputs, as ``torch.func`` requires) and
   runs the backward above.

Everything else a layer Function needs (higher-order and forward-mode gradients through the
teaching path, ``torch.func``, ``vmap``, autocast, empty batches) is shared with the Triton path
and lives in :mod:`scratch_lstm.autograd`.
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
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t with g_t = 2σ(2 z_g) - 1, as (f_t ⊙ c_{t-1} - i_t) + 2 i_t ⊙ σ(2 z_g)
        c = torch.addcmul((f * c).sub_(i), i, s_g, value=2, out=C[t] if keep else None)
        # tanh(c_t) = 2σ(2 c_t) - 1, by the sigmoid (torch's CPU tanh costs about 4x its sigmoid)
        tc = torch.mul(c, 2, out=TC[t] if keep else None).sigmoid_().mul_(2).sub_(1)
        if w_hr is None:
            h = torch.mul(o, tc, out=Y[t])  # h_t = o_t ⊙ tanh(c_t)
        else:
            m = torch.mul(o, tc, out=M[t] if keep else None)
            h = torch.mm(m, w_hr.t(), out=Y[t])  # h_t = W_hr (o_t ⊙ tanh(c_t))
    return S, C, TC, Y, M, h, c


def _backward_loop(inputs, reverse, outputs, grad_outputs, needs_input_grad):
    """The hand-derived backward through time (module docstring); first-order, no autograd.

    The gate gradients dz_t of a block of steps go into one reused ``(steps, B, 4H)`` buffer,
    and the weight gradients are summed block by block (:func:`_add_block_grads`), so no
    ``(T, B, 4H)`` tensor is allocated.
    """
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = inputs
    Y, S, C, TC, M = outputs
    dY, dh_n, dc_n = grad_outputs
    T, B, I = x.shape
    H = C.size(2)
    grads = {"w_ih": torch.zeros_like(w_ih), "w_hh": torch.zeros_like(w_hh),
             "b": torch.zeros_like(b_ih) if b_ih is not None else None,
             "w_hr": torch.zeros_like(w_hr) if w_hr is not None else None,
             "x": x.new_empty(x.shape) if needs_input_grad[0] else None}  # contiguous, as x may not be
    block = max(1, _GRAD_BLOCK_ROWS // max(B, 1))  # steps per block of dz_t
    dZ = S.new_empty(min(block, T), B, 4 * H)  # dz_t of one block of steps
    dH = Y.new_empty(min(block, T), B, Y.size(2)) if w_hr is not None else None  # dh_t, for dW_hr
    one = C.new_ones(())  # the 1 of 1 - tanh²(c_t)
    dh, dc = dh_n, dc_n
    order = list(range(T)) if reverse else list(reversed(range(T)))
    # Per step, so every operand stays in cache (whole-sequence elementwise ops are slower).
    for n, t in enumerate(order):
        if n % block == 0:  # a new block: steps order[n : n + block], stored at t - lo
            ts = order[n : n + block]
            lo, hi = min(ts), max(ts) + 1
        prev = t + 1 if reverse else t - 1  # the step that fed this one
        c_prev = c0 if prev in (-1, T) else C[prev]
        s, tc = S[t], TC[t]
        i, f, s_g, o = s.chunk(4, dim=1)
        dh = dY[t] + dh  # dh_t = dy_t + dh_t^rec
        if w_hr is not None:
            dH[t - lo] = dh
            dm = dh @ w_hr  # dm_t = dh_t W_hr
        else:
            dm = dh
        # dc_t = dc^rec + dm ⊙ o ⊙ (1 - tanh²c)
        dc = torch.addcmul(dc, dm * o, torch.addcmul(one, tc, tc, value=-1))
        dz = dZ[t - lo]
        torch.addcmul(-dc, dc, s_g, value=2, out=dz[:, :H])  # di_t = dc_t ⊙ g_t = dc_t ⊙ (2σ(2z_g) - 1)
        torch.mul(dc, c_prev, out=dz[:, H : 2 * H])  # df_t = dc_t ⊙ c_{t-1}
        torch.mul(dc, i, out=dz[:, 2 * H : 3 * H]).mul_(4)  # 4 dg_t: tanh'(z) = 4σ(2z)(1-σ(2z))
        torch.mul(dm, tc, out=dz[:, 3 * H :])  # do_t = dm_t ⊙ tanh(c_t)
        # through σ'(z) = σ - σ²: dz_t = [di σ'_i | df σ'_f | dg tanh'_g | do σ'_o]
        dz.mul_(torch.addcmul(s, s, s, value=-1))
        dc = dc * f  # dc^rec sent to the previous step
        dh = dz @ w_hh  # dh^rec sent to the previous step
        if n % block == block - 1 or n == T - 1:
            _add_block_grads(grads, inputs, lo, hi, dZ[: hi - lo], dH, Y, M, reverse)
    return grads["x"], dh, dc, grads["w_ih"], grads["w_hh"], grads["b"], grads["b"], grads["w_hr"]


def _add_block_grads(grads, inputs, lo, hi, dZ, dH, Y, M, reverse):
    """Add the weight gradients of steps ``lo .. hi-1`` (their dz_t in ``dZ``, ``(hi-lo, B, 4H)``),
    and write their dx_t::

        dW_ih += Σ_t dz_t^T x_t    dW_hh += Σ_t dz_t^T h_{t-1}    db += Σ_t dz_t    dx_t = dz_t W_ih
        dW_hr += Σ_t dh_t^T m_t    (with projection; dh_t in ``dH``)
    """
    x, h0, _, w_ih, _, _, _, _ = inputs
    T, B, I = x.shape
    n, P, H4 = hi - lo, Y.size(2), dZ.size(2)
    dZ2 = dZ.reshape(n * B, H4)  # (n B, 4H)
    grads["w_ih"].addmm_(dZ2.t(), x[lo:hi].reshape(n * B, I))
    if grads["x"] is not None:
        torch.mm(dZ2, w_ih, out=grads["x"][lo:hi].view(n * B, I))
    if grads["b"] is not None:
        grads["b"] += dZ2.sum(0)
    # h_{t-1} of steps lo..hi-1: Y of the neighbouring steps, and h0 for the step that read it
    first = T - 1 if reverse else 0  # the step that read h0
    if lo <= first < hi:
        grads["w_hh"].addmm_(dZ[first - lo].t(), h0)
    inner = slice(lo, min(hi, T - 1)) if reverse else slice(max(lo, 1), hi)  # steps after the first
    if inner.stop > inner.start:
        fed_by = slice(inner.start + 1, inner.stop + 1) if reverse else slice(inner.start - 1, inner.stop - 1)
        rows = dZ[inner.start - lo : inner.stop - lo].reshape(-1, H4)  # (steps B, 4H)
        grads["w_hh"].addmm_(rows.t(), Y[fed_by].reshape(-1, P))
    if grads["w_hr"] is not None:
        H = M.size(2)
        grads["w_hr"].addmm_(dH[:n].reshape(n * B, P).t(), M[lo:hi].reshape(n * B, H))


class LSTMLayerFunction(torch.autograd.Function):
    """One LSTM layer-direction over a ``(T, B, I)`` sequence with the backward derived by hand.

    ``apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse) -> (y, h_n, c_n, S, C, TC, M)``;
    biases and ``w_hr`` may be ``None``. The last four outputs are the saved gate activations,
    cell states, their tanh and (with projection, else ``None``) the unprojected hidden states,
    non-differentiable, for the backward only. The first-order backward is derived in the
    module docstring; higher-order gradients, ``torch.func`` and vmap go through the shared
    helpers of :mod:`scratch_lstm.autograd`.
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
