"""Bad constructor arguments and bad inputs raise as nn.LSTM raises, with useful messages."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from scratch_lstm import LSTM

BAD_ARGS = [
    (dict(input_size=3, hidden_size=0), ValueError, "hidden_size must be greater than zero"),
    (dict(input_size=0, hidden_size=4), ValueError, "input_size must be greater than zero"),
    (dict(input_size=3.0, hidden_size=4), TypeError, "input_size should be of type int"),
    (dict(input_size=3, hidden_size="4"), TypeError, "hidden_size should be of type int"),
    (dict(input_size=3, hidden_size=4, num_layers=0), ValueError, "num_layers must be greater"),
    (dict(input_size=3, hidden_size=4, bias=1), TypeError, "bias should be of type bool"),
    (dict(input_size=3, hidden_size=4, batch_first=None), TypeError, "batch_first should be"),
    (dict(input_size=3, hidden_size=4, dropout=1.5), ValueError, r"dropout should be a number"),
    (dict(input_size=3, hidden_size=4, dropout=True), ValueError, r"dropout should be a number"),
    (dict(input_size=3, hidden_size=4, proj_size=-1), ValueError, "proj_size should be a positive"),
    (dict(input_size=3, hidden_size=4, proj_size=4), ValueError, "proj_size has to be smaller"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_ARGS)
def test_bad_constructor_arguments_raise_like_nn_lstm(kwargs, exc, match):
    with pytest.raises(exc):
        nn.LSTM(**kwargs)
    with pytest.raises(exc, match=match):
        LSTM(**kwargs)


def test_bad_types_that_nn_lstm_only_trips_over_later_are_caught_early():
    with pytest.raises(TypeError, match="num_layers should be of type int"):
        LSTM(3, 4, num_layers=2.0)
    with pytest.raises(ValueError, match="impl must be one of"):
        LSTM(3, 4, impl="cudnn")


H0 = (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
BAD_INPUTS = [
    (torch.zeros(5, 3, 7), None, RuntimeError, r"Expected 6, got 7"),
    (torch.zeros(3, 6, 4, 2), None, ValueError, r"Expected input to be 2D \(L, H_in\) or 3D"),
    (torch.zeros(6), None, ValueError, "got 1D instead"),
    (torch.zeros(5, 3, 6, dtype=torch.float64), None, ValueError, r"input\.to\(torch\.float32\)"),
    (torch.zeros(5, 3, 6), (torch.zeros(2, 2, 4), torch.zeros(2, 2, 4)), RuntimeError,
     r"Expected hidden\[0\] \(h_0\) size \(2, 3, 4\) .* got \[2, 2, 4\]"),
    (torch.zeros(5, 3, 6), (torch.zeros(2, 3, 4), torch.zeros(2, 3, 5)), RuntimeError,
     r"Expected hidden\[1\] \(c_0\) size \(2, 3, 4\)"),
    (torch.zeros(5, 3, 6), (torch.zeros(2, 4), torch.zeros(2, 4)), RuntimeError,
     "For batched 3-D input, hx and cx should also be 3-D"),
    (torch.zeros(5, 6), H0, RuntimeError, "For unbatched 2-D input, hx and cx should also be 2-D"),
    (torch.zeros(5, 6), (torch.zeros(2, 5), torch.zeros(2, 4)), RuntimeError,
     r"Expected hidden\[0\] \(h_0\) size \(2, 4\) .* got \[2, 5\]"),
]


@pytest.mark.parametrize("x, hx, exc, match", BAD_INPUTS)
def test_bad_inputs_raise_like_nn_lstm(x, hx, exc, match):
    torch.manual_seed(0)
    ref, ours = nn.LSTM(6, 4, 2), LSTM(6, 4, 2)
    with pytest.raises((ValueError, RuntimeError)):
        ref(x, hx)
    with pytest.raises(exc, match=match):
        ours(x, hx)


def test_hx_must_be_a_pair():
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h_0, c_0\)"):
        LSTM(6, 4)(torch.zeros(5, 3, 6), torch.zeros(1, 3, 4))


def test_packed_input_is_checked_too():
    packed = pack_padded_sequence(torch.zeros(4, 2, 5), [4, 2])
    with pytest.raises(RuntimeError, match=r"Expected 6, got 5"):
        LSTM(6, 4)(packed)
    ok = pack_padded_sequence(torch.zeros(4, 2, 6), [4, 2])
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\]"):
        LSTM(6, 4)(ok, (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
