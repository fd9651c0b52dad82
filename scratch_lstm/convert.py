"""Convert between this project's modules and torch's, keeping configuration, device and dtype."""

from __future__ import annotations

from torch import nn

from .cell import LSTMCell
from .lstm import LSTM

_LSTM_ARGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
              "bidirectional", "proj_size")


def _copy(src: nn.Module, make) -> nn.Module:
    p = next(src.parameters())
    dst = make(device=p.device, dtype=p.dtype)
    dst.load_state_dict(src.state_dict(), strict=True)
    dst.train(src.training)
    return dst


def from_torch(module: nn.Module, impl: str = "scratch") -> LSTM | LSTMCell:
    """A :class:`scratch_lstm.LSTM` or :class:`LSTMCell` with the same configuration and weights
    (a copy) as the given ``torch.nn.LSTM`` or ``torch.nn.LSTMCell``.

    ``impl`` chooses the LSTM's path (``"scratch"``, ``"fused"`` or ``"triton"``).
    """
    if isinstance(module, nn.LSTM):
        kwargs = {a: getattr(module, a) for a in _LSTM_ARGS}
        return _copy(module, lambda **f: LSTM(**kwargs, **f, impl=impl))
    if isinstance(module, nn.LSTMCell):
        return _copy(module, lambda **f: LSTMCell(module.input_size, module.hidden_size, module.bias, **f))
    raise TypeError(f"from_torch expects torch.nn.LSTM or torch.nn.LSTMCell, got {type(module).__name__}")


def to_torch(module: nn.Module) -> nn.LSTM | nn.LSTMCell:
    """A ``torch.nn.LSTM`` or ``torch.nn.LSTMCell`` with the same configuration and weights (a
    copy) as the given :class:`scratch_lstm.LSTM` or :class:`LSTMCell`."""
    if isinstance(module, LSTM):
        kwargs = {a: getattr(module, a) for a in _LSTM_ARGS}
        return _copy(module, lambda **f: nn.LSTM(**kwargs, **f))
    if isinstance(module, LSTMCell):
        return _copy(module, lambda **f: nn.LSTMCell(module.input_size, module.hidden_size, module.bias, **f))
    raise TypeError(f"to_torch expects scratch_lstm.LSTM or LSTMCell, got {type(module).__name__}")
