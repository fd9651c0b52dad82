"""The hand-derived backward: gradcheck, and equality with autograd through the teaching path."""

import pytest
import torch
from oracle import layer_tensors
from torch.autograd import gradcheck

from scratch_lstm import fused, lstm_layer
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
