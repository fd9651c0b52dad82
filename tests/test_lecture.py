"""The lecture's walk-through and its classifier, against the reference model."""

import pytest
import torch

from reference.lecture_rnn import RecurrentNeuralNetworkClass, func_eval
from scratch_lstm import LSTM, LSTMClassifier


def test_how_lstm_works_shapes():
    rnn = LSTM(input_size=28, hidden_size=256, num_layers=2, batch_first=True)
    x = torch.randn(2, 20, 28)  # [N x L x Q]
    rnn_out, (hn, cn) = rnn(x)
    assert rnn_out.shape == (2, 20, 256)  # [N x L x D]
    assert hn.shape == cn.shape == (2, 2, 256)  # [K x N x D]


@pytest.mark.parametrize("backend", ["scratch", "fused", "torch"])
def test_classifier_maps_sequences_to_logits(backend):
    model = LSTMClassifier(backend=backend)
    assert model(torch.randn(3, 10, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match=r"expects x of shape \(N, L, 28\)"):
        model(torch.randn(3, 1, 28, 28))


@pytest.mark.parametrize("backend", ["scratch", "fused", "torch"])
def test_reference_state_dict_loads_both_ways_and_gives_the_same_logits(backend):
    torch.manual_seed(0)
    lecture_model = RecurrentNeuralNetworkClass(n_layer=2).double()
    model = LSTMClassifier(backend=backend, dtype=torch.float64)
    model.load_state_dict(lecture_model.state_dict(), strict=True)
    lecture_model.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(4, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(model(x), lecture_model(x), rtol=1e-10, atol=1e-10)


def test_same_seed_gives_the_same_initial_model_as_the_reference():
    torch.manual_seed(5)
    lecture_model = RecurrentNeuralNetworkClass(n_layer=2)
    torch.manual_seed(5)
    model = LSTMClassifier()
    for a, b in zip(model.parameters(), lecture_model.parameters()):
        assert torch.equal(a, b)


def test_lecture_eval_function_runs_on_the_scratch_classifier():
    torch.manual_seed(0)
    model = LSTMClassifier(hidden_size=8, num_layers=1)
    x, y = torch.randn(10, 28, 28), torch.randint(0, 10, (10,))
    loader = [(x[:5], y[:5]), (x[5:], y[5:])]
    acc = func_eval(model, loader, "cpu")
    assert acc == pytest.approx((model(x).argmax(1) == y).double().mean().item())
    assert model.training  # the lecture's evaluation switches back to train mode
