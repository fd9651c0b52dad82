"""LSTMCell and lstm_step equal torch.nn.LSTMCell."""

import pytest
import torch
from conftest import TOL
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from scratch_lstm import LSTMCell, lstm_step


@settings(max_examples=60)
@given(
    I=st.integers(1, 6), H=st.integers(1, 6), B=st.integers(1, 4), bias=st.booleans(),
    batched=st.booleans(), with_hx=st.booleans(), seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([torch.float64, torch.float32]),
)
def test_cell_equals_nn_lstmcell(I, H, B, bias, batched, with_hx, seed, dtype):
    gen = torch.Generator().manual_seed(seed)
    ref = nn.LSTMCell(I, H, bias=bias, dtype=dtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-1, 1, generator=gen)
    ours = LSTMCell(I, H, bias=bias, dtype=dtype)
    ours.load_state_dict(ref.state_dict(), strict=True)
    lead = (B,) if batched else ()
    x = torch.randn(*lead, I, dtype=dtype, generator=gen)
    hx = tuple(torch.randn(*lead, H, dtype=dtype, generator=gen) for _ in range(2))
    grads = []
    for module in (ref, ours):
        leaves = [t.clone().requires_grad_() for t in (x, *hx)]
        h, c = module(leaves[0], tuple(leaves[1:]) if with_hx else None)
        assert h.shape == c.shape == (*lead, H)
        (h.sum() * 0.7 + (c * c).sum()).backward()
        grads.append([h.detach(), c.detach()] + [t.grad for t in leaves if t.grad is not None]
                     + [p.grad for p in module.parameters()])
    for a, e in zip(*reversed(grads)):
        torch.testing.assert_close(a, e, **TOL[dtype])


def test_step_fields_obey_the_equations():
    gen = torch.Generator().manual_seed(0)
    x, h, c = (torch.randn(3, n, dtype=torch.float64, generator=gen) for n in (4, 5, 5))
    w_ih, w_hh = torch.randn(20, 4, dtype=torch.float64), torch.randn(20, 5, dtype=torch.float64)
    s = lstm_step(x, h, c, w_ih, w_hh)
    z = x @ w_ih.T + h @ w_hh.T
    torch.testing.assert_close(s.i, torch.sigmoid(z[:, 0:5]))
    torch.testing.assert_close(s.f, torch.sigmoid(z[:, 5:10]))
    torch.testing.assert_close(s.g, torch.tanh(z[:, 10:15]))
    torch.testing.assert_close(s.o, torch.sigmoid(z[:, 15:20]))
    torch.testing.assert_close(s.c, s.f * c + s.i * s.g)
    torch.testing.assert_close(s.h, s.o * torch.tanh(s.c))
    assert s.h_proj is None and s.state is s.h
    w_hr = torch.randn(2, 5, dtype=torch.float64)
    sp = lstm_step(x, h[:, :2], c, w_ih, torch.randn(20, 2, dtype=torch.float64), w_hr=w_hr)
    torch.testing.assert_close(sp.state, sp.h @ w_hr.T)


@pytest.mark.parametrize(
    "x, hx, match",
    [
        (torch.zeros(2, 3, 4), None, "Expected input to be 1D"),
        (torch.zeros(2, 5), None, "expected input_size=4"),
        (torch.zeros(2, 4, dtype=torch.float64), None, "does not match weight dtype"),
        (torch.zeros(2, 4), (torch.zeros(3, 6), torch.zeros(3, 6)), r"must have shape \[2, 6\]"),
        (torch.zeros(4), (torch.zeros(1, 6), torch.zeros(1, 6)), r"must have shape \[6\]"),
    ],
)
def test_cell_rejects_bad_input(x, hx, match):
    with pytest.raises((ValueError, RuntimeError), match=match):
        LSTMCell(4, 6)(x, hx)


@pytest.mark.parametrize("I, H, B", [(0, 4, 2), (3, 0, 2), (3, 4, 0)])
def test_zero_sizes_and_empty_batch_like_nn_lstmcell(I, H, B):
    """nn.LSTMCell accepts input_size or hidden_size 0 (empty weights) and batch size 0."""
    torch.manual_seed(0)
    ref = nn.LSTMCell(I, H, dtype=torch.float64)
    ours = LSTMCell(I, H, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict(), strict=True)
    grads = []
    for module in (ref, ours):
        x = torch.randn(B, I, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        x.requires_grad_()
        h, c = module(x)
        (h.sum() + c.pow(2).sum()).backward()
        grads.append([h, c, x.grad] + [p.grad for p in module.parameters()])
    for a, e in zip(*reversed(grads)):
        assert a.shape == e.shape
        torch.testing.assert_close(a, e, **TOL[torch.float64])


def test_hx_may_be_a_list_like_nn_lstmcell():
    torch.manual_seed(0)
    ref, ours = nn.LSTMCell(3, 4), LSTMCell(3, 4)
    ours.load_state_dict(ref.state_dict())
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    for a, e in zip(ours(x, [h, c]), ref(x, [h, c])):
        torch.testing.assert_close(a, e, **TOL[torch.float32])


def test_cell_state_dtype_promotes_like_nn_lstmcell():
    """A float64 c with a float32 cell: nn.LSTMCell promotes (f * c), so does LSTMCell."""
    torch.manual_seed(0)
    ref, ours = nn.LSTMCell(3, 4), LSTMCell(3, 4)
    ours.load_state_dict(ref.state_dict())
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4, dtype=torch.float64)
    for a, e in zip(ours(x, (h, c)), ref(x, (h, c))):
        assert a.dtype == e.dtype == torch.float64
        torch.testing.assert_close(a, e, **TOL[torch.float32])
