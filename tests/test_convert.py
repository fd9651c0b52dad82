"""from_torch / to_torch keep configuration, weights, device, dtype and mode; no torch LSTM kernels."""

import pytest
import torch
from oracle import IMPLS
from torch import nn

import scratch_lstm
from scratch_lstm import LSTM, LSTMCell, from_torch, to_torch

CONFIGS = [
    dict(input_size=3, hidden_size=5),
    dict(input_size=3, hidden_size=5, num_layers=3, bias=False, batch_first=True, dropout=0.25,
         bidirectional=True, proj_size=2),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_round_trip_lstm(cfg):
    ref = nn.LSTM(**cfg, dtype=torch.float64).eval()
    ours = from_torch(ref)
    assert isinstance(ours, LSTM) and not ours.training
    assert ours.weight_ih_l0.dtype == torch.float64 and ours.weight_ih_l0.device == ref.weight_ih_l0.device
    for key in cfg:
        assert getattr(ours, key) == getattr(ref, key)
    back = to_torch(ours)
    assert isinstance(back, nn.LSTM) and repr(back) == repr(ref)
    for a, b, c in zip(ref.parameters(), ours.parameters(), back.parameters()):
        assert torch.equal(a, b) and torch.equal(a, c) and a.data_ptr() != b.data_ptr()
    assert from_torch(ref, impl="fused").impl == "fused"


def test_round_trip_cell():
    for bias in (True, False):
        ref = nn.LSTMCell(4, 3, bias=bias, dtype=torch.float64)
        ours = from_torch(ref)
        assert isinstance(ours, LSTMCell) and ours.bias == bias
        back = to_torch(ours)
        assert isinstance(back, nn.LSTMCell) and repr(back) == repr(ref)
        for a, b in zip(ref.parameters(), back.parameters()):
            assert torch.equal(a, b)


def test_convert_rejects_other_modules():
    with pytest.raises(TypeError, match="expects torch.nn.LSTM, LSTMCell, GRU or RNN, got Linear"):
        from_torch(nn.Linear(3, 4))
    with pytest.raises(TypeError, match="expects scratch_lstm.LSTM"):
        to_torch(nn.LSTM(3, 4))


@pytest.mark.parametrize("impl", IMPLS)
def test_no_torch_lstm_kernel_is_called(monkeypatch, impl):
    def forbidden(*args, **kwargs):
        raise AssertionError("a torch LSTM kernel was called")

    for owner, name in [(torch._VF, "lstm"), (torch._VF, "lstm_cell"), (torch, "lstm"),
                        (torch, "lstm_cell"), (nn.LSTM, "forward"), (nn.LSTMCell, "forward")]:
        monkeypatch.setattr(owner, name, forbidden, raising=False)
    x = torch.randn(3, 2, 4, requires_grad=True)
    out, (h, c) = LSTM(4, 5, 2, bidirectional=True, proj_size=2, impl=impl)(x)
    (out.sum() + h.sum() + c.sum()).backward()
    h, c = LSTMCell(4, 5)(x[0])
    (h.sum() + c.sum()).backward()
    model = scratch_lstm.LSTMClassifier(4, 5, backend=impl)
    model(x).sum().backward()
