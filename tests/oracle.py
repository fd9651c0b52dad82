"""Helpers that run a scratch module and its torch twin on the same inputs and compare them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import scratch_lstm
from conftest import TOL

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
        torch.testing.assert_close(a, e, **TOL[dtype], msg=lambda m: f"{name}: {m}\n{case}")
    assert len(our_grads) == len(ref_grads)
    for k, (a, e) in enumerate(zip(our_grads, ref_grads)):
        torch.testing.assert_close(a, e, **TOL[dtype], msg=lambda m: f"grad {k}: {m}\n{case}")
