"""Helpers that run a scratch module and its torch twin on the same inputs and compare them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from conftest import AUTOCAST_TOL, TOL
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import scratch_lstm
from scratch_lstm.impls import IMPLS  # noqa: F401  (every impl the suite checks: the one list)

INPUT_FORMS = ("batched", "unbatched", "packed_sorted", "packed_unsorted")


@dataclass
class Case:
    """One drawn LSTM configuration and input."""

    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    bidirectional: bool
    proj_size: int
    form: str
    with_hx: bool
    T: int
    B: int
    lengths: list[int]
    seed: int

    def module_kwargs(self) -> dict:
        return dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
            proj_size=self.proj_size,
        )


@st.composite
def cases(draw, forms=INPUT_FORMS, max_layers=3) -> Case:
    """Draw every axis of nn.LSTM's configuration and input together."""
    hidden = draw(st.integers(1, 6))
    form = draw(st.sampled_from(forms))
    B = 1 if form == "unbatched" else draw(st.integers(1, 4))
    T = draw(st.integers(1, 5))
    lengths = [draw(st.integers(1, T)) for _ in range(B)]
    lengths[draw(st.integers(0, B - 1))] = T  # the longest sequence fills the padded tensor
    if form == "packed_sorted":
        lengths.sort(reverse=True)
    return Case(
        input_size=draw(st.integers(1, 5)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, max_layers)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        proj_size=draw(st.integers(0, hidden - 1)) if hidden > 1 else 0,
        form=form,
        with_hx=draw(st.booleans()),
        T=T,
        B=B,
        lengths=lengths,
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def make_pair(case: Case, dtype: torch.dtype, impl: str = "scratch", gen=None, device="cpu"):
    """nn.LSTM with random weights from ``gen`` and a scratch LSTM loaded from it (strict)."""
    ref = nn.LSTM(**case.module_kwargs(), dtype=dtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-0.8, 0.8, generator=gen)
    ref = ref.to(device)
    ours = scratch_lstm.LSTM(**case.module_kwargs(), dtype=dtype, impl=impl, device=device)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def make_inputs(case: Case, dtype: torch.dtype, gen, device="cpu"):
    """Leaf tensors (x, h0, c0) for the case; h0/c0 are None without hx."""
    D = 2 if case.bidirectional else 1
    P = case.proj_size or case.hidden_size
    if case.form == "unbatched":
        x_shape, h_shape, c_shape = (case.T, case.input_size), (case.num_layers * D, P), (
            case.num_layers * D, case.hidden_size)
    else:
        x_shape = (case.B, case.T, case.input_size) if case.batch_first else (
            case.T, case.B, case.input_size)
        h_shape = (case.num_layers * D, case.B, P)
        c_shape = (case.num_layers * D, case.B, case.hidden_size)
    x = torch.randn(x_shape, dtype=dtype, generator=gen).to(device).requires_grad_()
    if not case.with_hx:
        return x, None, None
    h0 = torch.randn(h_shape, dtype=dtype, generator=gen).to(device).requires_grad_()
    c0 = torch.randn(c_shape, dtype=dtype, generator=gen).to(device).requires_grad_()
    return x, h0, c0


def forward(module, case: Case, x, h0, c0):
    """Run ``module`` on the case's input form; returns (output tensor, h_n, c_n)."""
    inp = x
    if case.form.startswith("packed"):
        inp = pack_padded_sequence(
            x, torch.tensor(case.lengths), batch_first=case.batch_first,
            enforce_sorted=case.form == "packed_sorted",
        )
    out, (h_n, c_n) = module(inp, None if h0 is None else (h0, c0))
    if case.form.startswith("packed"):
        out = out.data
    return out, h_n, c_n


def assert_same_forward_and_backward(case: Case, dtype: torch.dtype, impl: str = "scratch",
                                     device="cpu"):
    """Outputs, final states and all gradients of scratch and nn.LSTM agree to TOL[dtype]."""
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, dtype, impl, gen, device)
    leaves = make_inputs(case, dtype, gen, device)
    results = []
    for module in (ref, ours):
        x, h0, c0 = (None if t is None else t.detach().clone().requires_grad_() for t in leaves)
        outs = forward(module, case, x, h0, c0)
        cot = torch.Generator().manual_seed(case.seed + 1)
        loss = sum((o * torch.randn(o.shape, dtype=dtype, generator=cot).to(device)).sum() for o in outs)
        loss.backward()
        grads = [t.grad for t in (x, h0, c0) if t is not None]
        grads += [p.grad for p in module.parameters()]
        results.append(([o.detach() for o in outs], grads))
    (ref_outs, ref_grads), (our_outs, our_grads) = results
    for name, a, e in zip(("output", "h_n", "c_n"), our_outs, ref_outs):
        torch.testing.assert_close(a, e, **TOL[dtype], msg=lambda m, name=name: f"{name}: {m}\n{case}")
    assert len(our_grads) == len(ref_grads)
    for k, (a, e) in enumerate(zip(our_grads, ref_grads)):
        torch.testing.assert_close(a, e, **TOL[dtype], msg=lambda m, k=k: f"grad {k}: {m}\n{case}")


def run_under_autocast(module, case: Case, leaves, device: str, dtype: torch.dtype | None):
    """Forward under ``torch.autocast(device, dtype)`` (``dtype=None``: no autocast), backward of a
    random read-out after it.

    Returns ``(outputs, grads)``: output, h_n, c_n as returned, and the gradients of the
    leaves and every parameter. The leaves are converted to the module's dtype.
    """
    to = next(module.parameters()).dtype
    x, h0, c0 = (None if t is None else t.detach().to(device, to).requires_grad_() for t in leaves)
    with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        outs = forward(module, case, x, h0, c0)
    cot = torch.Generator().manual_seed(case.seed + 1)
    loss = sum((o.to(to) * torch.randn(o.shape, generator=cot).to(device, to)).sum() for o in outs)
    loss.backward()
    grads = [t.grad for t in (x, h0, c0) if t is not None] + [p.grad for p in module.parameters()]
    return outs, grads


# What nn.LSTM returns on CUDA under autocast: cuDNN's LSTM casts to float16 under a bfloat16
# autocast too (seen with torch 2.11 and cuDNN 9.19 on an H200, every input form). Ours returns the
# dtype that was asked for; docs/testing.md "not mirrored" says so. The values still agree within the
# bfloat16 tolerance, the coarser of the two.
CUDNN_AUTOCAST_DTYPE = {torch.float16: torch.float16, torch.bfloat16: torch.float16}


def assert_autocast_like_nn_lstm(case: Case, impl: str, device: str, dtype: torch.dtype):
    """Under autocast, ours returns the autocast dtype and is as close to the exact result as the
    tolerance allows.

    The dtype rule: output, h_n and c_n in the autocast dtype, whatever kernel this machine has,
    as nn.LSTM on oneDNN (CPUs with bfloat16) and on cuDNN under float16. The values: on the CPU
    against nn.LSTM in float64 (nn.LSTM's own bfloat16 kernel exists only on some CPUs,
    conftest.py), within AUTOCAST_TOL's ``vs_float64`` tolerances; on CUDA against nn.LSTM under
    the same autocast (cuDNN), whose dtypes are asserted as ``CUDNN_AUTOCAST_DTYPE`` says.
    """
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = (m.to(device) for m in make_pair(case, torch.float32, impl, gen))
    leaves = make_inputs(case, torch.float32, gen)
    our_outs, our_grads = run_under_autocast(ours, case, leaves, device, dtype)
    assert [o.dtype for o in our_outs] == [dtype] * 3
    tol = AUTOCAST_TOL[dtype]
    if device == "cpu":
        ref_outs, ref_grads = run_under_autocast(ref.double(), case, leaves, device, None)
        out_tol, grad_tol = tol["vs_float64_outputs"], tol["vs_float64_grads"]
    else:
        ref_outs, ref_grads = run_under_autocast(ref, case, leaves, device, dtype)
        assert [o.dtype for o in ref_outs] == [CUDNN_AUTOCAST_DTYPE[dtype]] * 3, case
        out_tol, grad_tol = tol["outputs"], tol["grads"]
    for name, a, e in zip(("output", "h_n", "c_n"), our_outs, ref_outs):
        torch.testing.assert_close(a.double(), e.double(), rtol=out_tol, atol=out_tol,
                                   msg=lambda m, name=name: f"{name}: {m}\n{case}")
    for k, (a, e) in enumerate(zip(our_grads, ref_grads)):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), e.double(), rtol=grad_tol, atol=grad_tol,
                                   msg=lambda m, k=k: f"grad {k}: {m}\n{case}")


def assert_cell_autocast_like_nn(I, H, B, bias, batched, x_dtype, hx_dtype, seed, device, dtype):
    """Under autocast, LSTMCell returns nn.LSTMCell's dtypes and stays within AUTOCAST_TOL of it.

    ``hx_dtype`` ``None`` means no ``hx``. Gradients of the input, hx and every parameter too.
    """
    gen = torch.Generator().manual_seed(seed)
    ref = nn.LSTMCell(I, H, bias=bias)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1, generator=gen)
    ours = scratch_lstm.LSTMCell(I, H, bias=bias)
    ours.load_state_dict(ref.state_dict(), strict=True)
    lead = (B,) if batched else ()
    x = torch.randn(*lead, I, generator=gen).to(x_dtype)
    hx = [torch.randn(*lead, H, generator=gen).to(hx_dtype or x_dtype) for _ in range(2)]
    results = []
    for module in (ref.to(device), ours.to(device)):
        leaves = [t.detach().to(device).requires_grad_() for t in (x, *hx)]
        with torch.autocast(device, dtype=dtype):
            h, c = module(leaves[0], tuple(leaves[1:]) if hx_dtype else None)
        (h.float().sum() * 0.7 + (c.float() * c.float()).sum()).backward()
        grads = [t.grad for t in leaves if t.grad is not None] + [p.grad for p in module.parameters()]
        results.append(([h, c], grads))
    (ref_outs, ref_grads), (our_outs, our_grads) = results
    assert [o.dtype for o in our_outs] == [o.dtype for o in ref_outs]
    tol = AUTOCAST_TOL[dtype]
    for a, e in zip(our_outs, ref_outs):
        torch.testing.assert_close(a, e, rtol=tol["cell_outputs"], atol=tol["cell_outputs"])
    assert len(our_grads) == len(ref_grads)
    for a, e in zip(our_grads, ref_grads):
        torch.testing.assert_close(a, e, rtol=tol["cell_grads"], atol=tol["cell_grads"])


def layer_tensors(T, B, I, H, P, bias, proj, seed=0):
    """Leaf float64 inputs of one layer function: ``(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)``,
    scaled by 0.5; ``P`` is the projection size (used when ``proj``)."""
    gen = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=gen).mul_(0.5).requires_grad_()

    Ph = P if proj else H
    return (r(T, B, I), r(B, Ph), r(B, H), r(4 * H, I), r(4 * H, Ph),
            r(4 * H) if bias else None, r(4 * H) if bias else None, r(P, H) if proj else None)
