"""Parameter names, shapes, order, initialisation and count equal nn.LSTM's."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import scratch_lstm
from scratch_lstm import LSTM, LSTMClassifier, format_parameters, lstm_num_parameters


@st.composite
def configs(draw):
    hidden = draw(st.integers(1, 40))
    return dict(
        input_size=draw(st.integers(1, 40)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, 4)),
        bias=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        proj_size=draw(st.integers(0, hidden - 1)),
    )


@settings(max_examples=100)
@given(cfg=configs())
def test_names_shapes_order_and_count_equal_nn_lstm(cfg):
    ref, ours = nn.LSTM(**cfg), LSTM(**cfg)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    count = lstm_num_parameters(**cfg)
    assert count == sum(p.numel() for p in ref.parameters())
    assert count == sum(p.numel() for p in ours.parameters())
    assert [[p.shape for p in w] for w in ours.all_weights] == [
        [p.shape for p in w] for w in ref.all_weights
    ]


@settings(max_examples=30)
@given(cfg=configs(), seed=st.integers(0, 2**31))
def test_same_seed_draws_the_same_weights_as_nn_lstm(cfg, seed):
    torch.manual_seed(seed)
    ref = nn.LSTM(**cfg)
    torch.manual_seed(seed)
    ours = LSTM(**cfg)
    for (n, a), b in zip(ours.named_parameters(), ref.parameters()):
        assert torch.equal(a, b), n
    bound = 1 / math.sqrt(cfg["hidden_size"])
    assert all(p.abs().max() <= bound for p in ours.parameters())


def test_init_is_uniform_over_the_whole_range():
    w = LSTM(10, 100).weight_hh_l0.detach()
    bound = 0.1
    assert w.abs().max() <= bound and w.min() < -0.99 * bound and w.max() > 0.99 * bound
    assert abs(w.mean()) < 0.005 and abs(w.std() - bound / math.sqrt(3)) < 0.002


def test_state_dict_loads_both_ways_strict():
    cfg = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True, proj_size=2)
    ref, ours = nn.LSTM(**cfg), LSTM(**cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    back = nn.LSTM(**cfg)
    back.load_state_dict(ours.state_dict(), strict=True)
    for a, b in zip(back.parameters(), ref.parameters()):
        assert torch.equal(a, b)


def test_cell_parameters_equal_nn_lstmcell():
    for bias in (True, False):
        torch.manual_seed(3)
        ref = nn.LSTMCell(4, 6, bias=bias)
        torch.manual_seed(3)
        ours = scratch_lstm.LSTMCell(4, 6, bias=bias)
        assert [(n, p.shape) for n, p in ours.named_parameters()] == [
            (n, p.shape) for n, p in ref.named_parameters()
        ]
        assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), ref.parameters()))
        assert ours.bias_ih is None if not bias else ours.bias_ih.shape == (24,)
        ours.load_state_dict(ref.state_dict(), strict=True)
        ref.load_state_dict(ours.state_dict(), strict=True)


def test_lecture_count_and_listing():
    assert lstm_num_parameters(28, 256, num_layers=2) == 819_200
    model = LSTMClassifier()  # the seed: 28 -> LSTM(256, 2 layers) -> Linear(256, 10)
    text = format_parameters(model)
    assert text.splitlines()[0] == "[0] name:[rnn.weight_ih_l0] shape:[(1024, 28)]."
    assert "Total number of parameters:[821,770]." in text
    assert "gates: i: rows 0:256 (7,168) | f: rows 256:512 (7,168)" in text
    assert "Per gate (weights and biases of i, f, g, o): i 204,800, f 204,800, g 204,800, " \
           "o 204,800; other parameters (projection, classifier head): 2,570." in text
    first = model.rnn.weight_ih_l0.detach().reshape(-1)[:5].numpy()
    with __import__("numpy").printoptions(precision=3):
        assert text.splitlines()[1] == f"    val:{first}"


def test_listing_matches_the_seeds_print(capsys):
    from reference.lecture_rnn import RecurrentNeuralNetworkClass, print_parameters

    torch.manual_seed(0)
    lecture_model = RecurrentNeuralNetworkClass(n_layer=2)
    print_parameters(lecture_model)
    lecture_text = capsys.readouterr().out.strip()
    assert format_parameters(lecture_model, gates=False) == lecture_text
    assert lecture_text.endswith("Total number of parameters:[821,770].")
