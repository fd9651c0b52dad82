"""Dropout acts between layers in training mode only, never on the last layer or recurrent path."""

import pytest
import torch
from torch import nn

from scratch_lstm import LSTM


def pair(dropout, num_layers=3, **kw):
    torch.manual_seed(0)
    ref = nn.LSTM(4, 6, num_layers, dropout=dropout, dtype=torch.float64, **kw)
    ours = LSTM(4, 6, num_layers, dropout=dropout, dtype=torch.float64, **kw)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


X = torch.randn(5, 2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def test_eval_mode_equals_nn_lstm_exactly_enough():
    ref, ours = pair(0.5, bidirectional=True)
    ref.eval(), ours.eval()
    for a, e in zip(ours(X)[0:1] + ours(X)[1], ref(X)[0:1] + ref(X)[1]):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


def test_dropout_zero_in_training_equals_eval():
    _, ours = pair(0.0)
    train_out = ours.train()(X)[0]
    torch.testing.assert_close(train_out, ours.eval()(X)[0], rtol=0, atol=0)


def test_dropout_one_zeroes_layer_inputs_but_never_the_last_output():
    # p=1 drops every element deterministically, so both modules can be compared in training.
    ref, ours = pair(1.0)
    ref.train(), ours.train()
    out, (h_n, c_n) = ours(X)
    ref_out, (ref_h, ref_c) = ref(X)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h_n, ref_h, rtol=1e-12, atol=1e-12)
    assert out.abs().min() > 0  # the last layer's output is not dropped
    # layers above the first saw zeros, so the output equals a one-layer LSTM fed zeros
    last = LSTM(6, 6, dtype=torch.float64)
    last.load_state_dict({k.replace("_l2", "_l0"): v for k, v in ours.state_dict().items()
                          if k.endswith("_l2")})
    torch.testing.assert_close(out, last(torch.zeros(5, 2, 6, dtype=torch.float64))[0])


def test_dropout_never_touches_the_recurrent_path_of_a_layer():
    _, ours = pair(0.5)
    torch.manual_seed(2)
    _, (h_train, c_train) = ours.train()(X)
    _, (h_eval, c_eval) = ours.eval()(X)
    torch.testing.assert_close(h_train[0], h_eval[0], rtol=0, atol=0)  # layer 0 is untouched
    torch.testing.assert_close(c_train[0], c_eval[0], rtol=0, atol=0)
    assert not torch.allclose(h_train[1], h_eval[1])  # layer 1 reads dropped inputs


def test_dropout_with_one_layer_warns_like_nn_lstm():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        LSTM(3, 4, 1, dropout=0.2)
