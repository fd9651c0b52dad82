"""The hand-derived backward: gradcheck, equality with autograd through the teaching path, and with
the plain backward through time it makes fast (gradient_flow.backward_through_time)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import layer_tensors
from torch.autograd import gradcheck

from scratch_lstm import LSTM, backward_through_time, fused, lstm_layer, trace_gates
from scratch_lstm.fused import LSTMLayerFunction, fused_lstm_layer


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("proj", [True, False])
@pytest.mark.parametrize("reverse", [True, False])
def test_gradcheck(bias, proj, reverse):
    args = layer_tensors(T=4, B=2, I=3, H=3, P=2, bias=bias, proj=proj)
    assert gradcheck(lambda *a: LSTMLayerFunction.apply(*a, reverse)[:3], args, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("T", [1, 2, 7])
@pytest.mark.parametrize("proj", [True, False])
@pytest.mark.parametrize("reverse", [True, False])
@pytest.mark.parametrize("grad_block_rows", [2048, 6])  # all steps in one block; blocks of 2 steps
def test_hand_backward_equals_autograd_through_the_equations(T, proj, reverse, grad_block_rows,
                                                             monkeypatch):
    """The backward sums the weight gradients block by block: one block, and several with the
    step that read h0 in the first or the last one and a partial block at the end."""
    monkeypatch.setattr(fused, "_GRAD_BLOCK_ROWS", grad_block_rows)
    args = layer_tensors(T=T, B=3, I=4, H=5, P=2, bias=True, proj=proj, seed=T)
    results = []
    for layer in (lstm_layer, fused_lstm_layer):
        leaves = [a if a is None else a.detach().clone().requires_grad_() for a in args]
        y, (h, c) = layer(*leaves, reverse=reverse)
        (y.sin().sum() + (h * 3).sum() + c.cos().sum()).backward()
        results.append([y, h, c] + [a.grad for a in leaves if a is not None])
    for a, e in zip(*results):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("T, B", [(5, 2), (25, 100)])  # one block; blocks of 10 steps, one partial
@pytest.mark.parametrize("reverse", [True, False])
def test_inference_path_equals_training_path(T, B, reverse):
    args = layer_tensors(T=T, B=B, I=3, H=4, P=2, bias=True, proj=True)
    with torch.no_grad():
        y0, (h0, c0) = fused_lstm_layer(*args, reverse=reverse)
    y1, (h1, c1) = fused_lstm_layer(*args, reverse=reverse)
    assert not y0.requires_grad and y1.requires_grad
    for a, e in ((y0, y1), (h0, h1), (c0, c1)):
        torch.testing.assert_close(a, e, rtol=0, atol=0)


@settings(max_examples=25)
@given(T=st.integers(1, 6), B=st.integers(1, 3), I=st.integers(1, 4), H=st.integers(1, 5),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_hand_backward_equals_the_plain_backward_through_time(T, B, I, H, bias, seed):
    """fused.py is backward_through_time made fast: the same dx_t, and at every step t the same
    dL/dh_t and dL/dc_t. The fused layer run over steps t..T-1 from the traced state
    (h_{t-1}, c_{t-1}) sends back, as the gradients of its initial state, exactly
    dh_{t-1}^rec = dz_t W_hh = dL/dh_{t-1} - dy_{t-1} and dc_{t-1}^rec = dL/dc_t ⊙ f_t."""
    gen = torch.Generator().manual_seed(seed)
    lstm = LSTM(I, H, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for p in lstm.parameters():
            p.uniform_(-1, 1, generator=gen)
    weights = lstm.direction_weights(0)  # w_ih, w_hh, b_ih, b_hh, None
    x = torch.randn(T, B, I, dtype=torch.float64, generator=gen)
    dy = torch.randn(T, B, H, dtype=torch.float64, generator=gen)  # what the outputs y_t receive
    with torch.no_grad():
        trace = trace_gates(lstm, x)[0]  # (T, B, H) each, from h_{-1} = c_{-1} = 0
    dc, dh, dx = backward_through_time(trace, weights[0].detach(), weights[1].detach(), dy)

    for t in range(T):  # the fused layer over steps t..T-1, from the traced state before step t
        zeros = torch.zeros(B, H, dtype=torch.float64)
        h_prev = trace.h[t - 1] if t > 0 else zeros
        c_prev = trace.c[t - 1] if t > 0 else zeros
        leaves = [a.detach().clone().requires_grad_() for a in (x[t:], h_prev, c_prev)]
        y, _ = fused_lstm_layer(*leaves, *(w.detach() if w is not None else None for w in weights))
        (y * dy[t:]).sum().backward()
        x_grad, h0_grad, c0_grad = (a.grad for a in leaves)
        torch.testing.assert_close(c0_grad, dc[t] * trace.f[t], rtol=1e-10, atol=1e-12)
        if t > 0:
            torch.testing.assert_close(h0_grad, dh[t - 1] - dy[t - 1], rtol=1e-10, atol=1e-12)
        else:  # the whole sequence
            torch.testing.assert_close(x_grad, dx, rtol=1e-10, atol=1e-12)
