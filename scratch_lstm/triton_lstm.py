r"""The GPU path (``impl="triton"``): the gate equations of :mod:`scratch_lstm.cell` as Triton kernels.

Read :mod:`scratch_lstm.cell` (the equations) and :mod:`scratch_lstm.fused` (their derivatives)
first: this file computes exactly the same numbers, arranged for a GPU.

**What stays outside the time loop.** The input projection ``Z_x = X W_ih^T + b_ih + b_hh`` of
*all* T steps does not depend on the recurrence, so it is one large GEMM (cuBLAS, through
``torch.addmm``) before the loop: ``(T*B, I) @ (I, 4H) -> (T*B, 4H)``. Inside the loop only
``h_{t-1} W_hh^T`` is left, a product that cannot be batched over time because ``h_{t-1}`` is
the previous step's result. Likewise the weight gradients ``dW_ih = Σ_t dz_t^T x_t``,
``dW_hh = Σ_t dz_t^T h_{t-1}`` and ``db = Σ_t dz_t`` are single GEMMs after the backward loop.

**One kernel per time step.** :func:`_forward_step` does the recurrent product *and* the gate
arithmetic of one step, so ``z_t`` never goes through GPU memory between them. Its grid tiles
the ``(B, H)`` state: program ``(pb, ph)`` owns batch rows ``pb*BLOCK_B ...`` and hidden units
``j = ph*BLOCK_H ...``, and for those units it computes all four gates. Gate ``k`` of unit ``j``
is column ``k*H + j`` of ``z_t`` (the rows of ``W_hh`` are stacked ``[W_hi; W_hf; W_hg; W_ho]``,
gate order i, f, g, o as in ``nn.LSTM``), so the program keeps four ``(BLOCK_B, BLOCK_H)``
accumulators, one per gate, each ``h_{t-1}[rows, :] @ W_h{k}[units, :]^T`` built from
``BLOCK_K``-wide slices with ``tl.dot``. Then, per element, as in ``lstm_step``::

    i = σ(z_i)            f = σ(z_f)            g = tanh(z_g)            o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g                  h_t = o ⊙ tanh(c_t)

Every unit of ``h_t`` depends on *all* of ``h_{t-1}``, which other programs computed; the only
grid-wide barrier a GPU offers cheaply is the end of a kernel, hence one launch per step.

**Where the states live.** The outputs ``y`` are ``(T, B, H)`` and ``h_0`` stays where it is:
a launch reads ``h_{t-1}`` from the slot of ``y`` the step before wrote, or from ``h_0`` on the
first step processed. The cell states go in ``Cs``, ``(T+1, B, H)``, with ``c_0`` in slot 0
(slot T in reverse) and ``c_t`` in slot ``t+1`` (``t``), so ``c_{t-1}`` is always "the slot
before": the backward reads ``c_{t-1}`` and ``c_t`` from there, and ``h_{t-1}`` from ``y``.
With autograd the activations ``[i|f|g|o]`` of step t overwrite its slice of ``Z_x`` (each
program reads and writes only its own tile), so the forward keeps one ``(T, B, 4H)`` buffer.

**Backward, also one kernel per step** (:func:`_backward_step`, the equations of
:mod:`scratch_lstm.fused`). Program ``(pb, ph)`` owns units ``j`` again. It first finishes
``dh_t = dy_t + dz_{t+1} W_hh[:, j]`` (the recurrent gradient the step after sends back, a
product over all 4H gate columns of ``dz_{t+1}``, which the previous launch completed), then goes
through the gates of its units::

    dc_t = dc_{t+1}^rec + dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
    dz_t = [dc_t ⊙ g_t ⊙ i_t(1-i_t) | dc_t ⊙ c_{t-1} ⊙ f_t(1-f_t) | dc_t ⊙ i_t ⊙ (1-g_t²) | dh_t ⊙ tanh(c_t) ⊙ o_t(1-o_t)]
    dc_t^rec = dc_t ⊙ f_t                                            (sent to step t-1)

**What the CUDA graph removes.** A step's kernel runs for a few microseconds, about as long as
Python and the driver need to launch it, so an eager loop of T launches is bound by launching.
:mod:`scratch_lstm.cuda_graphs` records the whole training step once (forward, backward and the
optimizer) and then replays it with one call: the GPU runs the T kernels back to back and no
Python runs per step.

**Coverage.** The kernels compute in float32 (``tl.dot`` in IEEE fp32, or TF32 when
``torch.backends.cuda.matmul.allow_tf32`` is set, as for cuBLAS). Under autocast the layer runs
in float32 and :class:`scratch_lstm.LSTM` returns the autocast dtype, like ``nn.LSTM``. What the
kernels do not cover (:func:`kernels_cover`: ``proj_size > 0``, anything not float32, sizes
whose offsets within a step would pass 2**31) :mod:`scratch_lstm.impls` sends through the fused
path, and ``PackedSequence`` input through the teaching path, as for the fused impl. Double
backward (``create_graph=True``) recomputes the layer through the teaching path, as the fused
path does (:mod:`scratch_lstm.autograd`). On the CPU the kernels run only under
``TRITON_INTERPRET=1`` (Triton's interpreter, slow; that is how CI tests them); otherwise
:mod:`scratch_lstm.impls` refuses ``impl="triton"`` on CPU tensors with an error that names the
impl to use instead.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from .autocast import autocast_disabled
from .autograd import layer_backward, layer_jvp, run_layer, setup_layer_context, vmap_layer
from .checks import check_has_steps

try:  # Triton ships with the Linux CUDA builds of torch; import scratch_lstm must work without it.
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the platform
    triton = None


def kernels_cover(tensors: tuple) -> bool:
    """Whether the kernels compute a layer with these 8 tensor inputs.

    Where they do not, :func:`scratch_lstm.impls.layer_function` sends the layer to the fused path.

    They need float32 throughout, no projection (``w_hr`` is ``None``), and offsets within one
    time step that fit the kernels' 32-bit arithmetic (``B * 4H`` and ``4H * H`` below 2**31).
    """
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = tensors
    B, H = c0.shape
    present = [t for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh) if t is not None]
    return (w_hr is None and all(t.dtype == torch.float32 for t in present)
            and B * 4 * H < 2**31 and 4 * H * H < 2**31)


if triton is not None:

    @triton.jit(do_not_specialize=["t", "has_prev"])  # one compiled kernel for every step
    def _forward_step(
        Z,  # (T, B, 4H) x_t W_ih^T + b for every t; with SAVE, step t overwrites its slice with [i|f|g|o]
        Y,  # (T, B, H) out: the hidden states h_t
        H0,  # (B, H) the initial hidden state, contiguous
        Cs,  # (T+1, B, H) cell states: c_0 in slot 0 (slot T in reverse), c_t in slot t+1 (t)
        W_hh,  # (4H, H) recurrent weights [W_hi; W_hf; W_hg; W_ho], contiguous
        t,  # the time step this launch computes
        has_prev,  # 0 for the first step processed (h_{t-1} is H0), else 1
        B,
        H,
        REVERSE: tl.constexpr,
        SAVE: tl.constexpr,
        BLOCK_B: tl.constexpr,
        BLOCK_H: tl.constexpr,
        BLOCK_K: tl.constexpr,
        PRECISION: tl.constexpr,
    ):
        """One LSTM step for the tile (rows, units) of the state: h_t, c_t (and the gates)."""
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)  # (BB,) batch rows
        units = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)  # (BH,) hidden units j
        row_ok, unit_ok = rows < B, units < H
        tile_ok = row_ok[:, None] & unit_ok[None, :]  # (BB, BH)
        step = t.to(tl.int64)
        if REVERSE:
            prev, out, step_before = step + 1, step, step + 1  # Cs slots of c_{t-1} and c_t; the step before t
        else:
            prev, out, step_before = step, step + 1, step - 1
        state = rows[:, None] * H + units[None, :]  # (BB, BH) offsets into one (B, H) slot
        if has_prev:
            h_rows = Y + step_before * B * H + rows * H  # (BB,) h_{t-1}: the output of the step before
        else:
            h_rows = H0 + rows * H  # (BB,) h_{t-1} = h_0

        # z_t[:, kH + j] = Σ_k h_{t-1}[:, k] W_hh[kH + j, k]  for the four gates k, BLOCK_K columns at a time
        acc_i = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
        acc_f = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
        acc_g = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
        acc_o = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
        for k0 in range(0, H, BLOCK_K):
            ks = k0 + tl.arange(0, BLOCK_K)  # (BK,)
            k_ok = ks < H
            h_prev = tl.load(h_rows[:, None] + ks[None, :], mask=row_ok[:, None] & k_ok[None, :],
                             other=0.0)  # (BB, BK)
            w = W_hh + units[None, :] * H + ks[:, None]  # (BK, BH): W_hh[j, k] transposed
            w_ok = k_ok[:, None] & unit_ok[None, :]
            acc_i += tl.dot(h_prev, tl.load(w, mask=w_ok, other=0.0), input_precision=PRECISION)
            acc_f += tl.dot(h_prev, tl.load(w + H * H, mask=w_ok, other=0.0), input_precision=PRECISION)
            acc_g += tl.dot(h_prev, tl.load(w + 2 * H * H, mask=w_ok, other=0.0), input_precision=PRECISION)
            acc_o += tl.dot(h_prev, tl.load(w + 3 * H * H, mask=w_ok, other=0.0), input_precision=PRECISION)

        z = Z + step * B * 4 * H + rows[:, None] * 4 * H + units[None, :]  # (BB, BH) gate i's columns
        i = tl.sigmoid(acc_i + tl.load(z, mask=tile_ok, other=0.0))  # i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f = tl.sigmoid(acc_f + tl.load(z + H, mask=tile_ok, other=0.0))  # f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g = 2 * tl.sigmoid(2 * (acc_g + tl.load(z + 2 * H, mask=tile_ok, other=0.0))) - 1  # g_t = tanh(...) = 2σ(2z) - 1
        o = tl.sigmoid(acc_o + tl.load(z + 3 * H, mask=tile_ok, other=0.0))  # o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_prev = tl.load(Cs + prev * B * H + state, mask=tile_ok, other=0.0)
        c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h = o * (2 * tl.sigmoid(2 * c) - 1)  # h_t = o_t ⊙ tanh(c_t)

        tl.store(Cs + out * B * H + state, c, mask=tile_ok)
        tl.store(Y + step * B * H + state, h, mask=tile_ok)
        if SAVE:  # the activations the backward needs, in place of the pre-activations
            tl.store(z, i, mask=tile_ok)
            tl.store(z + H, f, mask=tile_ok)
            tl.store(z + 2 * H, g, mask=tile_ok)
            tl.store(z + 3 * H, o, mask=tile_ok)

    @triton.jit(do_not_specialize=["t", "has_next"])
    def _backward_step(
        G,  # (T, B, 4H) the saved gates [i|f|g|o] of every step
        Cs,  # (T+1, B, H) the cell states of the forward (slots as in _forward_step)
        dY,  # (T, B, H) gradient of the outputs h_t, any strides
        dZ,  # (T, B, 4H) out: gradients of the gate pre-activations z_t
        dC,  # (B, H) in: dc^rec from the step after (dc_n first); out: dc^rec for the step before
        dHn,  # (B, H) gradient of h_n, used by the first step processed (the last in time)
        W_hh,  # (4H, H)
        t,  # the time step this launch differentiates
        has_next,  # 0 for the first step processed (no step after it), else 1
        B,
        H,
        s_yt,
        s_yb,
        s_yh,
        REVERSE: tl.constexpr,
        BLOCK_B: tl.constexpr,
        BLOCK_H: tl.constexpr,
        BLOCK_K: tl.constexpr,
        PRECISION: tl.constexpr,
    ):
        """The gradient of one step for the tile (rows, units): dz_t and the new dc^rec."""
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)  # (BB,)
        units = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)  # (BH,)
        row_ok, unit_ok = rows < B, units < H
        tile_ok = row_ok[:, None] & unit_ok[None, :]
        step = t.to(tl.int64)
        if REVERSE:
            prev, out, after = step + 1, step, step - 1  # slots of c_{t-1}, c_t; the step after t
        else:
            prev, out, after = step, step + 1, step + 1
        state = rows[:, None] * H + units[None, :]  # (BB, BH)

        # dh_t^rec = dz_{t+1} W_hh[:, j]: a product over all 4H gate columns, BLOCK_K at a time
        if has_next:
            dh_rec = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for r0 in range(0, 4 * H, BLOCK_K):
                rs = r0 + tl.arange(0, BLOCK_K)  # (BK,) rows of W_hh = columns of dz
                r_ok = rs < 4 * H
                dz_after = tl.load(dZ + after * B * 4 * H + rows[:, None] * 4 * H + rs[None, :],
                                   mask=row_ok[:, None] & r_ok[None, :], other=0.0)  # (BB, BK)
                w = tl.load(W_hh + rs[:, None] * H + units[None, :],
                            mask=r_ok[:, None] & unit_ok[None, :], other=0.0)  # (BK, BH)
                dh_rec += tl.dot(dz_after, w, input_precision=PRECISION)
        else:
            dh_rec = tl.load(dHn + state, mask=tile_ok, other=0.0)
        dy = tl.load(dY + step * s_yt + rows[:, None].to(tl.int64) * s_yb + units[None, :] * s_yh,
                     mask=tile_ok, other=0.0)  # any strides (a transposed or expanded gradient)
        dh = dy + dh_rec  # dh_t = dy_t + dh_t^rec

        gates = G + step * B * 4 * H + rows[:, None] * 4 * H + units[None, :]
        i = tl.load(gates, mask=tile_ok, other=0.0)
        f = tl.load(gates + H, mask=tile_ok, other=0.0)
        g = tl.load(gates + 2 * H, mask=tile_ok, other=0.0)
        o = tl.load(gates + 3 * H, mask=tile_ok, other=0.0)
        c = tl.load(Cs + out * B * H + state, mask=tile_ok, other=0.0)
        c_prev = tl.load(Cs + prev * B * H + state, mask=tile_ok, other=0.0)
        tc = 2 * tl.sigmoid(2 * c) - 1  # tanh(c_t), recomputed rather than stored

        dc = tl.load(dC + state, mask=tile_ok, other=0.0) + dh * o * (1 - tc * tc)  # dc_t = dc^rec + dh ⊙ o ⊙ (1 - tanh²c)
        dz = dZ + step * B * 4 * H + rows[:, None] * 4 * H + units[None, :]
        tl.store(dz, dc * g * i * (1 - i), mask=tile_ok)  # di_t = dc_t ⊙ g_t, through σ'
        tl.store(dz + H, dc * c_prev * f * (1 - f), mask=tile_ok)  # df_t = dc_t ⊙ c_{t-1}, through σ'
        tl.store(dz + 2 * H, dc * i * (1 - g * g), mask=tile_ok)  # dg_t = dc_t ⊙ i_t, through tanh'
        tl.store(dz + 3 * H, dh * tc * o * (1 - o), mask=tile_ok)  # do_t = dh_t ⊙ tanh(c_t), through σ'
        tl.store(dC + state, dc * f, mask=tile_ok)  # dc^rec sent to the step before


TILES = ((16, 16), (32, 16), (16, 32), (64, 16), (32, 32), (64, 32))  # (BLOCK_B, BLOCK_H) to choose from


def tiles(B: int, H: int, device: torch.device | None = None) -> tuple[int, int, int, int]:
    """``(BLOCK_B, BLOCK_H, BLOCK_K, num_warps)`` for a ``(B, H)`` state.

    The largest tile of :data:`TILES` whose grid still gives every multiprocessor a program
    (bigger tiles re-read ``W_hh`` less), else the smallest (16 x 16, the least ``tl.dot``
    takes); 8 warps from 1024 elements per gate up, so the four accumulators fit in registers
    without spilling (checked for sm_90 by the tests). A heuristic, not a measurement:
    ``benchmarks/triton_tiles.py`` times the alternatives on a GPU.
    """
    if device is not None and device.type == "cuda":
        n_sm = torch.cuda.get_device_properties(device).multi_processor_count
    else:
        n_sm = 132  # an H100's count, so the interpreter runs what the GPU would
    best = TILES[0]
    for bb, bh in TILES:
        programs = -(-B // bb) * -(-H // bh)
        if programs >= n_sm and bb * bh > best[0] * best[1]:
            best = (bb, bh)
    return best[0], best[1], 32, num_warps_for(*best)


def num_warps_for(block_b: int, block_h: int) -> int:
    """Warps per program: 8 from 1024 elements per gate up, so four accumulators fit in registers."""
    return 4 if block_b * block_h < 1024 else 8


def _precision() -> str:
    return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"


def _forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, save: bool):
    """Run the layer over all steps; returns ``(y, Z, Cs)``, with the gates in Z when ``save``."""
    T, B, I = x.shape
    H = w_hh.size(1)
    Z = x.new_empty(T, B, 4 * H)  # (T, B, 4H)
    x2 = x.reshape(T * B, I)
    if b_ih is not None:
        torch.addmm(b_ih + b_hh, x2, w_ih.t(), out=Z.view(T * B, 4 * H))  # Z_x = X W_ih^T + b
    else:
        torch.mm(x2, w_ih.t(), out=Z.view(T * B, 4 * H))
    y = x.new_empty(T, B, H)  # (T, B, H) the outputs h_t
    Cs = x.new_empty(T + 1, B, H)  # (T+1, B, H) c_0 and every c_t
    Cs[T if reverse else 0] = c0
    if B == 0:
        return y, Z, Cs
    BLOCK_B, BLOCK_H, BLOCK_K, num_warps = tiles(B, H, x.device)
    grid = (triton.cdiv(B, BLOCK_B), triton.cdiv(H, BLOCK_H))
    h0, w_hh = h0.contiguous(), w_hh.contiguous()
    for n, t in enumerate(reversed(range(T)) if reverse else range(T)):
        _forward_step[grid](Z, y, h0, Cs, w_hh, t, int(n > 0), B, H, REVERSE=reverse, SAVE=save,
                            BLOCK_B=BLOCK_B, BLOCK_H=BLOCK_H, BLOCK_K=BLOCK_K,
                            PRECISION=_precision(), num_warps=num_warps)
    return y, Z, Cs


def _final_state(y, Cs, reverse):
    """``(h_n, c_n)``: the state after the last step processed."""
    return (y[0], Cs[0]) if reverse else (y[-1], Cs[-1])


def _backward(dY, dh_n, dc_n, x, h0, w_ih, w_hh, y, G, Cs, reverse, has_bias, needs):
    """The gradients of ``(x, h0, c0, w_ih, w_hh, b_ih, b_hh)``; ``needs`` says which are wanted."""
    T, B, I = x.shape
    H = w_hh.size(1)
    dZ = torch.empty_like(G)  # (T, B, 4H)
    dC = dc_n.contiguous().clone()  # (B, H)
    if B > 0:
        BLOCK_B, BLOCK_H, BLOCK_K, num_warps = tiles(B, H, x.device)
        grid = (triton.cdiv(B, BLOCK_B), triton.cdiv(H, BLOCK_H))
        w_hh_c, dh_n = w_hh.contiguous(), dh_n.contiguous()
        order = range(T) if reverse else reversed(range(T))  # against the forward's direction
        for n, t in enumerate(order):
            _backward_step[grid](G, Cs, dY, dZ, dC, dh_n, w_hh_c, t, int(n > 0), B, H, *dY.stride(),
                                 REVERSE=reverse, BLOCK_B=BLOCK_B, BLOCK_H=BLOCK_H, BLOCK_K=BLOCK_K,
                                 PRECISION=_precision(), num_warps=num_warps)
    dZ2 = dZ.view(T * B, 4 * H)
    first = T - 1 if reverse else 0  # the step that read h0
    rest = slice(0, T - 1) if reverse else slice(1, T)  # the steps that read an output h_{t-1}
    prev_rest = slice(1, T) if reverse else slice(0, T - 1)  # ... and those outputs
    dx = (dZ2 @ w_ih).view(T, B, I) if needs[0] else None  # dx_t = dz_t W_ih
    dh0 = dZ[first] @ w_hh if needs[1] else None  # dh_0 = dz_first W_hh
    dc0 = dC if needs[2] else None
    dw_ih = dZ2.t() @ x.reshape(T * B, I) if needs[3] else None  # Σ_t dz_t^T x_t
    dw_hh = None
    if needs[4]:  # Σ_t dz_t^T h_{t-1}
        dw_hh = dZ[first].t() @ h0
        if T > 1:
            dw_hh.addmm_(dZ[rest].reshape(-1, 4 * H).t(), y[prev_rest].reshape(-1, H))
    db = dZ2.sum(0) if has_bias and (needs[5] or needs[6]) else None  # Σ_t dz_t
    return dx, dh0, dc0, dw_ih, dw_hh, db, db


def _first_order_backward(inputs, reverse, saved, grad_outputs, needs_input_grad):
    """The hand-derived backward on the kernels, in the protocol of :func:`fused.layer_backward`."""
    x, h0, _, w_ih, w_hh, b_ih, _, _ = inputs
    y, G, Cs = saved
    with _on(x.device):
        grads = _backward(*grad_outputs, x, h0, w_ih, w_hh, y, G, Cs, reverse, b_ih is not None,
                          needs_input_grad)
    return (*grads, None)


def _on(device: torch.device):
    """Launch on ``device``: Triton launches on the current CUDA device, which may be another."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


class TritonLayerFunction(torch.autograd.Function):
    """One LSTM layer-direction on the Triton kernels, with the backward of :mod:`scratch_lstm.fused`.

    ``apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse) -> (y, h_n, c_n, gates, cells)``
    (``w_hr`` must be ``None``: projection goes through the fused path); the last two outputs
    are the saved activations, not differentiable. Higher-order and forward-mode gradients,
    ``torch.func`` and vmap go through the helpers the fused path shares
    (:mod:`scratch_lstm.autograd`). Use :func:`triton_lstm_layer`, which checks coverage.
    """

    @staticmethod
    def forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
        with autocast_disabled(x.device.type), _on(x.device):
            y, G, Cs = _forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, save=True)
        h_n, c_n = _final_state(y, Cs, reverse)
        return y, h_n.clone(), c_n.clone(), G, Cs

    @staticmethod
    def setup_context(ctx, inputs, output):
        setup_layer_context(ctx, inputs, output)

    @staticmethod
    def backward(ctx, dY, dh_n, dc_n, *_):
        return layer_backward(ctx, (dY, dh_n, dc_n), _first_order_backward)

    @staticmethod
    def jvp(ctx, *tangents):
        return layer_jvp(ctx, tangents)

    @staticmethod
    def vmap(info, in_dims, *args):
        return vmap_layer(TritonLayerFunction.apply, info, in_dims, args, _OUTPUT_BATCH_DIMS)


_OUTPUT_BATCH_DIMS = (1, 0, 0, 1, 1)  # y, h_n, c_n, gates, cells: (T, B, .), (B, .), (T(+1), B, .)


def triton_lstm_layer(
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
    """The contract of :mod:`scratch_lstm.layer` on the Triton kernels, for a padded ``(T, B, I)`` sequence.

    For what the kernels cover (:func:`kernels_cover`: float32, no projection); anything else is
    a ``ValueError``: :func:`scratch_lstm.impls.layer_function` (which ``LSTM(impl="triton")``
    asks) sends such a layer to the fused path instead, and checks first that the kernels can
    run on the device at all. Raises ``RuntimeError`` for ``T = 0``, as ``nn.LSTM`` does.
    """
    tensors = (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
    check_has_steps(x)
    if not kernels_cover(tensors):
        dtypes = sorted({str(t.dtype).replace("torch.", "") for t in tensors if t is not None})
        raise ValueError(
            f"the Triton kernels compute float32 layers without projection whose offsets fit 32 "
            f"bits; this one has dtypes {dtypes}, w_hr {'given' if w_hr is not None else 'None'}, "
            f"B={c0.size(0)}, H={c0.size(1)}. Run it through LSTM(impl='triton') or "
            f"scratch_lstm.impls.layer_function, which send it to the fused path")
    return run_layer(TritonLayerFunction, _inference, tensors, reverse)


def _inference(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    with _on(x.device):
        y, _, Cs = _forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, save=False)
    return y, _final_state(y, Cs, reverse)
