r"""The GPU path (``impl="triton"``): the gate equations of :mod:`scratch_lstm.cell` as Triton kernels.

Advanced, and last on the reading path: read :mod:`scratch_lstm.cell` (the equations and the
notation) and :mod:`scratch_lstm.fused` (their derivatives, lines [1] to [9]) first: this file
computes exactly the same numbers, arranged for a GPU. (:mod:`scratch_lstm.precision`, which it
uses, is about GPU float32 settings, not about the LSTM: skippable.)

**What stays outside the time loop.** The input projection ``Z_x = X W_ihᵀ + b_ih + b_hh`` of
*all* T steps does not depend on the recurrence, so it is one large GEMM (cuBLAS, through
``torch.addmm``) before the loop: ``(T*B, I) @ (I, 4H) -> (T*B, 4H)``. Inside the loop only
``h_{t-1} W_hhᵀ`` is left, a product that cannot be batched over time because ``h_{t-1}`` is
the previous step's result. Likewise the weight gradients ``dW_ih = Σ_t dz_tᵀ x_t``,
``dW_hh = Σ_t dz_tᵀ h_{t-1}`` and ``db = Σ_t Σ_b dz_t`` (over the steps and the batch rows) are
single GEMMs (and a sum) after the backward loop.

**One kernel per time step.** :func:`_forward_step` does the recurrent product *and* the gate
arithmetic of one step, so ``z_t`` never goes through GPU memory between them. Its grid tiles
the ``(B, H)`` state: program ``(pb, ph)`` owns batch rows ``pb*BLOCK_B ...`` and hidden units
``j = ph*BLOCK_H ...``, and for those units it computes all four gates. Gate ``k`` of unit ``j``
is column ``k*H + j`` of ``z_t`` (the rows of ``W_hh`` are stacked ``[W_hi; W_hf; W_hg; W_ho]``,
gate order i, f, g, o as in ``nn.LSTM``), so the program keeps four ``(BLOCK_B, BLOCK_H)``
accumulators, one per gate, each ``h_{t-1}[rows, :] @ W_h{k}[units, :]ᵀ`` built from
``BLOCK_K``-wide slices with ``tl.dot``; its slices of ``Z_x`` (and ``c_{t-1}``) are loaded
before that product, which they do not depend on, so their loads overlap it. Then, per element,
as in ``lstm_step`` (:func:`_cell`)::

    i = σ(z_i)            f = σ(z_f)            g = tanh(z_g)            o = σ(z_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g                  h_t = o ⊙ tanh(c_t)

Every unit of ``h_t`` depends on *all* of ``h_{t-1}``, which other programs computed; the only
grid-wide barrier a GPU offers cheaply is the end of a kernel, hence one launch per step.

**Filling the GPU: four programs a tile.** ``tl.dot`` takes tiles of at least 16 x 16, so a
state of 128 x 128 has only 64 tiles, fewer than an H100's 132 multiprocessors. Then
(:func:`tiles`) each tile is split over four programs (``SPLIT``, grid axis 2): program ``k``
computes gate ``k`` alone and stores ``z_t``'s gate-``k`` columns in place of ``Z_x``; the last of
the four to finish (:func:`_last_to_arrive`: an atomic counter per tile, so no program ever
waits for another) reads the four gates back and does the gate arithmetic.

**How ``W_hh`` is laid out.** ``tl.dot`` reads its second operand from shared memory. In IEEE
fp32 (FMA instructions) each lane reads its own column, so the columns (here the units ``j``)
must be contiguous or 16 lanes hit the same memory bank; TF32 tensor cores want the summed index
contiguous instead. So the forward, which reads ``W_hh[j, k]`` summing over ``k``, gets a
column-major copy (the row index, the unit ``j``, at stride 1) in IEEE and ``W_hh`` itself
(row-major, ``k`` at stride 1) in TF32, and the backward the other way round (:func:`_laid_out`);
the kernels take the strides.

**Where the states live.** The outputs ``y`` are ``(T, B, H)`` and the initial state ``h0``
(h_{-1}) stays where it is: a launch reads ``h_{t-1}`` from the slot of ``y`` the step before
wrote, or from ``h0`` on the first step processed. The cell states go in ``Cs``,
``(T+1, B, H)``, with ``c0`` (c_{-1}) in slot 0 (slot T in reverse) and ``c_t`` in slot ``t+1``
(``t``), so ``c_{t-1}`` is always "the slot before": the backward reads ``c_{t-1}`` and ``c_t``
from there, and ``h_{t-1}`` from ``y``.
With autograd the activations ``[i|f|g|o]`` of step t overwrite its slice of ``Z_x`` (each
tile's programs read and write only their own tile), so the forward keeps one ``(T, B, 4H)``
buffer. Without autograd, ``h_n`` and ``c_n`` are returned as copies, so that ``Cs`` is freed.

**Backward, also one kernel per step** (:func:`_backward_step`, lines [1] and [3] to [7] of
:mod:`scratch_lstm.fused`). Program ``(pb, ph)`` owns units ``j`` again. It loads what its
gate arithmetic reads (the gates, ``c_{t-1}``, ``c_t``, ``dy_t``, ``dc^rec``), then finishes
``dh_t = dy_t + dz_{t+1} W_hh[:, j]`` (the recurrent gradient the step after sends back, a
product over all 4H gate columns of ``dz_{t+1}``, which the previous launch completed; split in
four, program ``q`` sums over gate ``q``'s H columns and the last of the four adds the four parts
in a fixed order), then goes through the gates of its units::

    dc_t = dc_t^rec + dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))       (dc_t^rec = dc_{t+1} ⊙ f_{t+1}, from step t+1)
    dz_t = [dc_t ⊙ g_t ⊙ i_t(1-i_t) | dc_t ⊙ c_{t-1} ⊙ f_t(1-f_t)
            | dc_t ⊙ i_t ⊙ (1-g_t²) | dh_t ⊙ tanh(c_t) ⊙ o_t(1-o_t)]
    dc_{t-1}^rec = dc_t ⊙ f_t                               (sent to step t-1)

**What the CUDA graph removes.** A step's kernel runs for a few microseconds, about as long as
Python and the driver need to launch it, so an eager loop of T launches is bound by launching.
:mod:`scratch_lstm.app.cuda_graphs` records the whole training step once (forward, backward and
the optimizer) and then replays it with one call: the GPU runs the T kernels back to back and no
Python runs per step.

**Coverage.** The kernels compute in float32: ``tl.dot`` in IEEE fp32, or TF32 where torch's
settings ask cuBLAS for TF32 (:func:`scratch_lstm.precision.matmul_precision`, which reads the old
``allow_tf32`` flag and the newer ``fp32_precision`` settings alike). Under autocast the layer
runs in float32 and :class:`scratch_lstm.LSTM` returns the autocast dtype, like ``nn.LSTM``. What
the kernels do not cover (:func:`kernels_cover`: ``proj_size > 0``, anything not float32, sizes
whose offsets within a step would pass 2**31) :mod:`scratch_lstm.impls` sends through the fused
path, and ``PackedSequence`` input through the teaching path, as for the fused impl. Double
backward (``create_graph=True``) recomputes the layer through the teaching path, as the fused
path does (:mod:`scratch_lstm.autograd`). On the CPU the kernels run only under
``TRITON_INTERPRET=1`` (Triton's interpreter, slow; that is how CI tests them); otherwise
:mod:`scratch_lstm.impls` refuses ``impl="triton"`` on CPU tensors with an error that names the
impl to use instead. ``benchmarks/triton_build.py`` compiles the kernels for an H100 on any
machine and reports what their loops compile to.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import torch
from torch import Tensor

from .autocast import autocast_disabled
from .autograd import layer_backward, layer_jvp, run_layer, setup_layer_context, vmap_layer
from .checks import check_has_steps
from .precision import matmul_precision

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

    @triton.jit
    def _product(acc, a_rows, a_ok, b_cols, b_ok, k_start, k_end, ld_b,
                 BLOCK_K: tl.constexpr, PRECISION: tl.constexpr):
        """``acc + A[rows, k_start:k_end] @ B[k_start:k_end, cols]``, ``BLOCK_K`` values of k at a time.

        ``a_rows`` (BB,) points at the rows of A (k contiguous), ``b_cols`` (BN,) at row k = 0 of
        the columns of B, row k being ``k * ld_b`` further on; which index of B is contiguous in
        memory is the caller's choice (:func:`_laid_out`).
        """
        for k0 in range(k_start, k_end, BLOCK_K):
            ks = k0 + tl.arange(0, BLOCK_K)  # (BK,)
            k_ok = ks < k_end
            a = tl.load(a_rows[:, None] + ks[None, :], mask=a_ok[:, None] & k_ok[None, :], other=0.0)  # (BB, BK)
            b = tl.load(b_cols[None, :] + ks[:, None] * ld_b, mask=k_ok[:, None] & b_ok[None, :],
                        other=0.0)  # (BK, BN)
            acc = tl.dot(a, b, acc, input_precision=PRECISION)
        return acc

    @triton.jit
    def _last_to_arrive(counter, N: tl.constexpr):
        """Whether this program is the last of the ``N`` that share ``counter`` to get here.

        No program waits for another (so the order the GPU runs them in cannot deadlock): each
        counts itself in, and the one that finds the other ``N - 1`` already counted finishes the
        work. What they stored before the call is visible to it: a barrier lets every thread of a
        program finish its stores, and the increment is a release (of those stores) and an acquire
        (for the loads after it) at GPU scope. The last one sets the counter back to 0 for the next
        launch.
        """
        tl.debug_barrier()
        before = tl.atomic_add(counter, 1, sem="acq_rel", scope="gpu")  # how many counted in before
        last = before == N - 1
        if last:
            tl.store(counter, 0)
        return last

    @triton.jit
    def _cell(z_i, z_f, z_g, z_o, c_prev, gates, c_out, h_out, H, ok, SAVE: tl.constexpr):
        """The gate arithmetic of ``lstm_step`` on a tile: stores ``c_t``, ``h_t`` and (``SAVE``) ``[i|f|g|o]``."""
        i = tl.sigmoid(z_i)  # i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f = tl.sigmoid(z_f)  # f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g = 2 * tl.sigmoid(2 * z_g) - 1  # g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg) = 2σ(2z) - 1
        o = tl.sigmoid(z_o)  # o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h = o * (2 * tl.sigmoid(2 * c) - 1)  # h_t = o_t ⊙ tanh(c_t)
        tl.store(c_out, c, mask=ok)
        tl.store(h_out, h, mask=ok)
        if SAVE:  # the activations the backward needs, in place of the pre-activations
            tl.store(gates, i, mask=ok)
            tl.store(gates + H, f, mask=ok)
            tl.store(gates + 2 * H, g, mask=ok)
            tl.store(gates + 3 * H, o, mask=ok)

    @triton.jit(do_not_specialize=["t", "has_prev"])  # one compiled kernel for every step
    def _forward_step(
        Z,  # (T, B, 4H) Z_x = x_t W_ihᵀ + b_ih + b_hh for every t; step t's slice is overwritten (see SPLIT, SAVE)
        Y,  # (T, B, H) out: the hidden states h_t
        H0,  # (B, H) the initial hidden state, contiguous
        Cs,  # (T+1, B, H) cell states: c_{-1} (c0) in slot 0 (slot T in reverse), c_t in slot t+1 (t)
        W_hh,  # (4H, H) recurrent weights [W_hi; W_hf; W_hg; W_ho]: W_hh[r, k] at r * s_wr + k * s_wk
        s_wr,
        s_wk,
        Count,  # (tiles,) int32, zero: with SPLIT, how many of a tile's four programs are done
        t,  # the time step this launch computes
        has_prev,  # 0 for the first step processed (h_{t-1} is H0, h_{-1}), else 1
        B,
        H,
        REVERSE: tl.constexpr,
        SAVE: tl.constexpr,  # overwrite Z_x with the gates [i|f|g|o] (for the backward)
        SPLIT: tl.constexpr,  # four programs per tile, one per gate (grid axis 2); else one for all four
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
            h_rows = H0 + rows * H  # (BB,) h_{t-1} = h0, the initial state h_{-1}
        # (BB, BH) gate i's columns; gate q's are qH further on
        z = Z + step * B * 4 * H + rows[:, None] * 4 * H + units[None, :]
        w = W_hh + units * s_wr  # (BH,) the rows of W_hh of gate i's units j, at column k = 0
        c_prev = tl.load(Cs + prev * B * H + state, mask=tile_ok, other=0.0)
        c_out, h_out = Cs + out * B * H + state, Y + step * B * H + state

        # z_t[:, qH + j] = Z_x[:, qH + j] + Σ_k h_{t-1}[:, k] W_hh[qH + j, k] for the gates q.
        # Z_x is loaded first: it does not depend on h_{t-1}, so its load overlaps the product.
        if SPLIT:  # this program computes gate q = program_id(2) for the tile
            q = tl.program_id(2)
            acc = tl.load(z + q * H, mask=tile_ok, other=0.0)  # Z_x of gate q
            acc = _product(acc, h_rows, row_ok, w + q * H * s_wr, unit_ok, 0, H, s_wk, BLOCK_K, PRECISION)
            tl.store(z + q * H, acc, mask=tile_ok)  # z_t of gate q, for the program that finishes
            tile = tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)
            if _last_to_arrive(Count + tile, 4):  # the other three gates are in Z: finish the tile
                _cell(tl.load(z, mask=tile_ok, other=0.0, cache_modifier=".cg"),
                      tl.load(z + H, mask=tile_ok, other=0.0, cache_modifier=".cg"),
                      tl.load(z + 2 * H, mask=tile_ok, other=0.0, cache_modifier=".cg"),
                      tl.load(z + 3 * H, mask=tile_ok, other=0.0, cache_modifier=".cg"),
                      c_prev, z, c_out, h_out, H, tile_ok, SAVE)
        else:  # this program computes all four gates, sharing each slice of h_{t-1}
            zx_i = tl.load(z, mask=tile_ok, other=0.0)
            zx_f = tl.load(z + H, mask=tile_ok, other=0.0)
            zx_g = tl.load(z + 2 * H, mask=tile_ok, other=0.0)
            zx_o = tl.load(z + 3 * H, mask=tile_ok, other=0.0)
            acc_i = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            acc_f = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            acc_g = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            acc_o = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            for k0 in range(0, H, BLOCK_K):
                ks = k0 + tl.arange(0, BLOCK_K)  # (BK,)
                k_ok = ks < H
                h_prev = tl.load(h_rows[:, None] + ks[None, :], mask=row_ok[:, None] & k_ok[None, :],
                                 other=0.0)  # (BB, BK)
                w_k = w[None, :] + ks[:, None] * s_wk  # (BK, BH): W_hh[j, k] transposed, gate i
                w_ok = k_ok[:, None] & unit_ok[None, :]
                gate = H * s_wr  # from one gate's rows of W_hh to the next's
                acc_i = tl.dot(h_prev, tl.load(w_k, mask=w_ok, other=0.0), acc_i,
                               input_precision=PRECISION)  # += h_{t-1} W_hiᵀ
                acc_f = tl.dot(h_prev, tl.load(w_k + gate, mask=w_ok, other=0.0), acc_f,
                               input_precision=PRECISION)  # += h_{t-1} W_hfᵀ
                acc_g = tl.dot(h_prev, tl.load(w_k + 2 * gate, mask=w_ok, other=0.0), acc_g,
                               input_precision=PRECISION)  # += h_{t-1} W_hgᵀ
                acc_o = tl.dot(h_prev, tl.load(w_k + 3 * gate, mask=w_ok, other=0.0), acc_o,
                               input_precision=PRECISION)  # += h_{t-1} W_hoᵀ
            _cell(zx_i + acc_i, zx_f + acc_f, zx_g + acc_g, zx_o + acc_o,  # z_t = Z_x + h_{t-1} W_hhᵀ
                  c_prev, z, c_out, h_out, H, tile_ok, SAVE)

    @triton.jit(do_not_specialize=["t", "has_next"])
    def _backward_step(
        G,  # (T, B, 4H) the saved gates [i|f|g|o] of every step
        Cs,  # (T+1, B, H) the cell states of the forward (slots as in _forward_step)
        dY,  # (T, B, H) gradient of the outputs h_t, any strides
        dZ,  # (T, B, 4H) out: gradients of the gate pre-activations z_t
        dC,  # (B, H) in: dc^rec from the step after (dc_n first); out: dc^rec for the step before
        dHn,  # (B, H) gradient of h_n, used by the first step processed (the last in time)
        W_hh,  # (4H, H): W_hh[r, j] at r * s_wr + j * s_wj
        s_wr,
        s_wj,
        Part,  # (4, B, H) with SPLIT: the four parts of dh_t^rec (unused otherwise)
        Count,  # (tiles,) int32, zero: with SPLIT, how many of a tile's four programs are done
        t,  # the time step this launch differentiates
        has_next,  # 0 for the first step processed (no step after it), else 1
        B,
        H,
        s_yt,
        s_yb,
        s_yh,
        REVERSE: tl.constexpr,
        SPLIT: tl.constexpr,  # four programs per tile, each summing over one gate's H columns of dz_{t+1}
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

        # What the gate arithmetic reads, loaded first: none of it depends on the product below.
        gates = G + step * B * 4 * H + rows[:, None] * 4 * H + units[None, :]
        i = tl.load(gates, mask=tile_ok, other=0.0)
        f = tl.load(gates + H, mask=tile_ok, other=0.0)
        g = tl.load(gates + 2 * H, mask=tile_ok, other=0.0)
        o = tl.load(gates + 3 * H, mask=tile_ok, other=0.0)
        c = tl.load(Cs + out * B * H + state, mask=tile_ok, other=0.0)
        c_prev = tl.load(Cs + prev * B * H + state, mask=tile_ok, other=0.0)
        dc_rec = tl.load(dC + state, mask=tile_ok, other=0.0)
        dy = tl.load(dY + step * s_yt + rows[:, None].to(tl.int64) * s_yb + units[None, :] * s_yh,
                     mask=tile_ok, other=0.0)  # any strides (a transposed or expanded gradient)

        # [7] dh_t^rec = dz_{t+1} W_hh[:, j]: a product over the 4H gate columns of dz_{t+1}
        q = tl.program_id(2)  # with SPLIT: this program sums over gate q's H columns; else 0
        last = q == 0  # whether this program finishes the tile
        if has_next:
            dz_after = dZ + after * B * 4 * H + rows * 4 * H  # (BB,) rows of dz_{t+1}
            w = W_hh + units * s_wj  # (BH,) the columns j of W_hh, at row 0
            zero = tl.zeros((BLOCK_B, BLOCK_H), dtype=tl.float32)
            if SPLIT:
                dh_rec = _product(zero, dz_after, row_ok, w, unit_ok, q * H, q * H + H, s_wr, BLOCK_K, PRECISION)
                tl.store(Part + q * B * H + state, dh_rec, mask=tile_ok)
                tile = tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)
                last = _last_to_arrive(Count + tile, 4)
                if last:  # the four parts, summed in a fixed order whichever program came last
                    dh_rec = tl.load(Part + state, mask=tile_ok, other=0.0, cache_modifier=".cg")
                    for p in tl.static_range(1, 4):
                        dh_rec += tl.load(Part + p * B * H + state, mask=tile_ok, other=0.0,
                                          cache_modifier=".cg")
            else:
                dh_rec = _product(zero, dz_after, row_ok, w, unit_ok, 0, 4 * H, s_wr, BLOCK_K, PRECISION)
        else:
            dh_rec = tl.load(dHn + state, mask=tile_ok, other=0.0)
        if last:
            dh = dy + dh_rec  # [1] dh_t = dy_t + dh_t^rec
            tc = 2 * tl.sigmoid(2 * c) - 1  # tanh(c_t), recomputed rather than stored
            dc = dc_rec + dh * o * (1 - tc * tc)  # [4] dc_t = dc_t^rec + dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
            dz = dZ + step * B * 4 * H + rows[:, None] * 4 * H + units[None, :]
            tl.store(dz, dc * g * i * (1 - i), mask=tile_ok)  # [5, 6] di_t = dc_t ⊙ g_t, through σ'
            tl.store(dz + H, dc * c_prev * f * (1 - f), mask=tile_ok)  # [5, 6] df_t = dc_t ⊙ c_{t-1}, through σ'
            tl.store(dz + 2 * H, dc * i * (1 - g * g), mask=tile_ok)  # [5, 6] dg_t = dc_t ⊙ i_t, through tanh'
            tl.store(dz + 3 * H, dh * tc * o * (1 - o), mask=tile_ok)  # [3, 6] do_t = dh_t ⊙ tanh(c_t), through σ'
            tl.store(dC + state, dc * f, mask=tile_ok)  # [7] dc_{t-1}^rec = dc_t ⊙ f_t, sent to the step before


TILES = ((16, 16), (32, 16), (16, 32), (64, 16), (32, 32), (64, 32))  # (BLOCK_B, BLOCK_H) to choose from
H100_SMS = 132  # an H100's multiprocessors: what the rule assumes off the GPU (the interpreter, the build)


class Tiling(NamedTuple):
    """How the kernels cut one step: tiles of ``block_b`` rows x ``block_h`` units, a k-loop of
    ``block_k``, ``num_warps`` warps a program, and with ``split`` four programs a tile."""

    block_b: int
    block_h: int
    block_k: int
    num_warps: int
    split: bool


def programs(B: int, H: int, block_b: int, block_h: int, split: bool) -> int:
    """How many programs a step's launch runs for a ``(B, H)`` state."""
    return -(-B // block_b) * -(-H // block_h) * (4 if split else 1)


def tiles(B: int, H: int, device: torch.device | None = None) -> Tiling:
    """The :class:`Tiling` of a ``(B, H)`` state: enough programs for every multiprocessor.

    The largest tile of :data:`TILES` (bigger tiles re-read ``W_hh`` less) whose grid gives every
    multiprocessor a program. Where no tile does (16 x 16 is the least ``tl.dot`` takes) and
    ``H >= 4 * 32`` (so that each of four programs still runs a k-loop of 4 blocks of 32, enough
    for the copy pipeline to pay), each tile is split over four programs (``SPLIT`` in
    :func:`_forward_step` and :func:`_backward_step`), again the largest that then fills the GPU,
    else 16 x 16: all the programs there can be. 8 warps from 1024 elements per gate up, so four
    accumulators fit in registers. A rule read off the compiled code, not a measurement:
    ``benchmarks/triton_tiles.py`` times the alternatives on a GPU.
    """
    if device is not None and device.type == "cuda":
        n_sm = torch.cuda.get_device_properties(device).multi_processor_count
    else:
        n_sm = H100_SMS
    block_k = 32
    for split in (False, True) if H >= 4 * block_k else (False,):
        filling = [t for t in TILES if programs(B, H, *t, split) >= n_sm]
        if filling:
            bb, bh = max(filling, key=lambda t: t[0] * t[1])  # the first of the largest
            return Tiling(bb, bh, block_k, num_warps_for(bb, bh), split)
    return Tiling(*TILES[0], block_k, num_warps_for(*TILES[0]), H >= 4 * block_k)


def num_warps_for(block_b: int, block_h: int) -> int:
    """Warps per program: 8 from 1024 elements per gate up, so four accumulators fit in registers."""
    return 4 if block_b * block_h < 1024 else 8


def _laid_out(w: Tensor, rows_contiguous: bool) -> Tensor:
    """``w`` (2-D) column-major, its row index contiguous in memory (strides ``(1, rows)``), or row-major.

    ``tl.dot`` reads its second operand ``(K, N)`` from shared memory without bank conflicts when
    N is contiguous for IEEE fp32 (FMA) and K for TF32 (tensor cores), as the sm_90 build shows
    (``benchmarks/triton_build.py``). The forward's product reads ``W_hh[j, k]`` (N = units j are
    rows of ``W_hh``), the backward's reads ``W_hh[r, j]`` (K = rows r), so each asks for the
    layout its precision wants: one copy of ``W_hh`` per call, at most.
    """
    return w.t().contiguous().t() if rows_contiguous else w.contiguous()


def _launch(kernel, tiling: Tiling, B: int, H: int):
    """``kernel`` launched over the grid of ``tiling``: ``(row blocks, unit blocks, 4 or 1)``."""
    grid = (triton.cdiv(B, tiling.block_b), triton.cdiv(H, tiling.block_h), 4 if tiling.split else 1)
    return kernel[grid]


def _forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, save: bool):
    """Run the layer over all steps; returns ``(y, Z, Cs)``, with the gates in Z when ``save``."""
    T, B, I = x.shape
    H = w_hh.size(1)
    Z = x.new_empty(T, B, 4 * H)  # (T, B, 4H)
    x2 = x.reshape(T * B, I)
    if b_ih is not None:
        torch.addmm(b_ih + b_hh, x2, w_ih.t(), out=Z.view(T * B, 4 * H))  # Z_x = X W_ihᵀ + b_ih + b_hh
    else:
        torch.mm(x2, w_ih.t(), out=Z.view(T * B, 4 * H))
    y = x.new_empty(T, B, H)  # (T, B, H) the outputs h_t
    Cs = x.new_empty(T + 1, B, H)  # (T+1, B, H) c_{-1} and every c_t
    Cs[T if reverse else 0] = c0
    if B == 0:
        return y, Z, Cs
    tiling = tiles(B, H, x.device)
    step = _launch(_forward_step, tiling, B, H)
    precision = matmul_precision()
    w = _laid_out(w_hh, rows_contiguous=precision == "ieee")  # the product reads W_hh[j, k] over k
    count = torch.zeros(triton.cdiv(B, tiling.block_b) * triton.cdiv(H, tiling.block_h),
                        dtype=torch.int32, device=x.device)  # (tiles,)
    h0 = h0.contiguous()
    for n, t in enumerate(reversed(range(T)) if reverse else range(T)):
        step(Z, y, h0, Cs, w, *w.stride(), count, t, int(n > 0), B, H, REVERSE=reverse, SAVE=save,
             SPLIT=tiling.split, BLOCK_B=tiling.block_b, BLOCK_H=tiling.block_h,
             BLOCK_K=tiling.block_k, PRECISION=precision, num_warps=tiling.num_warps)
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
        tiling = tiles(B, H, x.device)
        step = _launch(_backward_step, tiling, B, H)
        precision = matmul_precision()
        w = _laid_out(w_hh, rows_contiguous=precision == "tf32")  # the product reads W_hh[r, j] over r
        dh_n = dh_n.contiguous()
        part = dZ.new_empty(4, B, H) if tiling.split else dC  # (4, B, H) the parts of dh^rec
        count = torch.zeros(triton.cdiv(B, tiling.block_b) * triton.cdiv(H, tiling.block_h),
                            dtype=torch.int32, device=x.device)  # (tiles,)
        order = range(T) if reverse else reversed(range(T))  # against the forward's direction
        for n, t in enumerate(order):
            step(G, Cs, dY, dZ, dC, dh_n, w, *w.stride(), part, count, t, int(n > 0), B, H, *dY.stride(),
                 REVERSE=reverse, SPLIT=tiling.split, BLOCK_B=tiling.block_b, BLOCK_H=tiling.block_h,
                 BLOCK_K=tiling.block_k, PRECISION=precision, num_warps=tiling.num_warps)
    dZ2 = dZ.view(T * B, 4 * H)
    first = T - 1 if reverse else 0  # the step that read h0
    rest = slice(0, T - 1) if reverse else slice(1, T)  # the steps that read an output h_{t-1}
    prev_rest = slice(1, T) if reverse else slice(0, T - 1)  # ... and those outputs
    dx = (dZ2 @ w_ih).view(T, B, I) if needs[0] else None  # [8] dx_t = dz_t W_ih
    dh0 = dZ[first] @ w_hh if needs[1] else None  # dh_{-1}^rec = dz_first W_hh: the gradient of h0
    dc0 = dC if needs[2] else None  # dc_{-1}^rec = dc_first ⊙ f_first: the gradient of c0
    dw_ih = dZ2.t() @ x.reshape(T * B, I) if needs[3] else None  # [8] Σ_t dz_tᵀ x_t
    dw_hh = None
    if needs[4]:  # [8] Σ_t dz_tᵀ h_{t-1}
        dw_hh = dZ[first].t() @ h0
        if T > 1:
            dw_hh.addmm_(dZ[rest].reshape(-1, 4 * H).t(), y[prev_rest].reshape(-1, H))
    db = dZ2.sum(0) if has_bias and (needs[5] or needs[6]) else None  # Σ_t Σ_b dz_t
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
    h_n, c_n = _final_state(y, Cs, reverse)
    return y, (h_n.clone(), c_n.clone())  # copies: views would keep all of Cs alive
