"""CUDA checks, skipped without a GPU: autocast in float16 and bfloat16 for every impl.

The same checks as the CPU ones in tests/test_modes.py (oracle.assert_autocast_like_nn_lstm and
oracle.assert_cell_autocast_like_nn), on the device where nn.LSTM runs cuDNN and nn.LSTMCell's
``lstm_cell`` is on autocast's list.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import IMPLS, assert_autocast_like_nn_lstm, assert_cell_autocast_like_nn, cases

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

AUTOCAST_DTYPES = [torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=10)
@given(case=cases(forms=("batched", "unbatched"), max_layers=2))
def test_cuda_autocast_like_nn_lstm(impl, dtype, case):
    assert_autocast_like_nn_lstm(case, impl, "cuda", dtype)


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@settings(max_examples=20)
@given(
    I=st.integers(1, 6), H=st.integers(1, 6), B=st.integers(1, 4), bias=st.booleans(),
    batched=st.booleans(), seed=st.integers(0, 2**32 - 1),
    x_dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
    hx_dtype=st.sampled_from([None, torch.float32]),
)
def test_cell_cuda_autocast_like_nn_lstmcell(dtype, I, H, B, bias, batched, seed, x_dtype, hx_dtype):
    assert_cell_autocast_like_nn(I, H, B, bias, batched, x_dtype, hx_dtype, seed, "cuda", dtype)
