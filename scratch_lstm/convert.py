"""Convert between this project's modules and torch's, keeping configuration, device and dtype."""

from __future__ import annotations

from torch import nn

from .cell import LSTMCell
from .lstm import LSTM
from .rnn import GRU, RNN

_LSTM_ARGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
              "bidirectional", "proj_size")
_RNN_ARGS = _LSTM_ARGS[:-1]  # nn.GRU's and nn.RNN's: no projection


def _copy(src: nn.Module, make) -> nn.Module:
    p = next(src.parameters())
    dst = make(device=p.device, dtype=p.dtype)
    dst.load_state_dict(src.state_dict(), strict=True)
    dst.train(src.training)
    return dst


def from_torch(module: nn.Module, impl: str = "scratch") -> LSTM | LSTMCell | GRU | RNN:
    """A :class:`scratch_lstm.LSTM`, :class:`LSTMCell`, :class:`GRU` or :class:`RNN` with the same
    configuration and weights (a copy) as the given ``torch.nn.LSTM``, ``nn.LSTMCell``, ``nn.GRU``
    or ``nn.RNN``.

    ``impl`` chooses the LSTM's path (``"scratch"``, ``"fused"`` or ``"triton"``).
    """
    if isinstance(module, nn.LSTM):
        kwargs = {a: getattr(module, a) for a in _LSTM_ARGS}
        return _copy(module, lambda **f: LSTM(**kwargs, **f, impl=impl))
    if isinstance(module, nn.LSTMCell):
        return _copy(module, lambda **f: LSTMCell(module.input_size, module.hidden_size, module.bias, **f))
    if isinstance(module, nn.GRU):
        return _copy(module, lambda **f: GRU(**{a: getattr(module, a) for a in _RNN_ARGS}, **f))
    if isinstance(module, nn.RNN):
        kwargs = {a: getattr(module, a) for a in _RNN_ARGS}
        return _copy(module, lambda **f: RNN(**kwargs, nonlinearity=module.nonlinearity, **f))
    raise TypeError(f"from_torch expects torch.nn.LSTM, LSTMCell, GRU or RNN, got {type(module).__name__}")


def to_torch(module: nn.Module) -> nn.LSTM | nn.LSTMCell | nn.GRU | nn.RNN:
    """A ``torch.nn.LSTM``, ``nn.LSTMCell``, ``nn.GRU`` or ``nn.RNN`` with the same configuration
    and weights (a copy) as the given :class:`scratch_lstm.LSTM`, :class:`LSTMCell`, :class:`GRU`
    or :class:`RNN`. An LSTM variant other than the vanilla cell is a ``ValueError``: ``nn.LSTM``
    would load its weights and compute another cell."""
    if isinstance(module, LSTM):
        if module.variant != "vanilla":
            raise ValueError(f"to_torch: variant={module.variant!r} has no torch twin; nn.LSTM computes the "
                             "vanilla cell (its parameters would load, strict, into a different network)")
        kwargs = {a: getattr(module, a) for a in _LSTM_ARGS}
        return _copy(module, lambda **f: nn.LSTM(**kwargs, **f))
    if isinstance(module, LSTMCell):
        return _copy(module, lambda **f: nn.LSTMCell(module.input_size, module.hidden_size, module.bias, **f))
    if isinstance(module, GRU):
        return _copy(module, lambda **f: nn.GRU(**{a: getattr(module, a) for a in _RNN_ARGS}, **f))
    if isinstance(module, RNN):
        kwargs = {a: getattr(module, a) for a in _RNN_ARGS}
        return _copy(module, lambda **f: nn.RNN(**kwargs, nonlinearity=module.nonlinearity, **f))
    raise TypeError(f"to_torch expects scratch_lstm.LSTM, LSTMCell, GRU or RNN, got {type(module).__name__}")
