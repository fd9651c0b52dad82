"""The scratch LSTM equals torch.nn.LSTM: outputs, final states and every gradient."""

import pytest
import torch
from hypothesis import given, settings
from oracle import IMPLS, INPUT_FORMS, assert_same_forward_and_backward, cases


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=150)
@given(case=cases())
def test_equals_nn_lstm_float64(impl, case):
    assert_same_forward_and_backward(case, torch.float64, impl)


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=40)
@given(case=cases(max_layers=2))
def test_equals_nn_lstm_float32(impl, case):
    assert_same_forward_and_backward(case, torch.float32, impl)


@pytest.mark.parametrize("form", INPUT_FORMS)
@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=15)
@given(case=cases(forms=("batched",)))
def test_each_input_form(impl, form, case):
    """Every input form is exercised on its own too, so none is left to chance."""
    case.form = form
    if form == "unbatched":
        case.B, case.lengths = 1, [case.T]
    if form == "packed_sorted":
        case.lengths.sort(reverse=True)
    assert_same_forward_and_backward(case, torch.float64, impl)
