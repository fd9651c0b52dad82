"""scratch-lstm: an LSTM written from its gate equations, weight-compatible with ``torch.nn.LSTM``.

Start reading at :mod:`scratch_lstm.cell` (one step), then :mod:`scratch_lstm.layer` (the loop
over time) and :mod:`scratch_lstm.lstm` (the stack of layers); :mod:`scratch_lstm.fused` derives
the backward by hand and :mod:`scratch_lstm.triton_lstm` runs the same equations as GPU kernels.
The study tools: :mod:`scratch_lstm.gates` (traces of every gate, the forget-gate
initialisations) and :mod:`scratch_lstm.gradient_flow` (how much gradient reaches each step).
The training app (data, the trainer, the ``scratch-lstm`` command line) is :mod:`scratch_lstm.app`.
"""

try:
    from . import _startup  # noqa: F401  first: Ctrl-C while the command imports torch (see there)
except KeyboardInterrupt:  # a Ctrl-C while _startup itself loaded, before its handler was in place
    from . import _startup

    _startup.interrupted_while_loading()
from .cell import LSTMCell, LSTMStep, lstm_step
from .classifier import LSTMClassifier
from .convert import from_torch, to_torch
from .gates import (
                    INITS,
                    GateTrace,
                    chrono_init,
                    forgetting_times,
                    gate_weights,
                    init_forget_bias,
                    init_gates,
                    saturation,
                    trace_gates,
)
from .gradient_flow import GradientFlow, backward_through_time, gradient_flow
from .layer import lstm_layer
from .lstm import LSTM
from .params import format_parameters, lstm_num_parameters

__version__ = "0.1.0"

__all__ = [
    "INITS",
    "GateTrace",
    "GradientFlow",
    "LSTM",
    "LSTMCell",
    "LSTMClassifier",
    "LSTMStep",
    "backward_through_time",
    "chrono_init",
    "forgetting_times",
    "format_parameters",
    "from_torch",
    "gate_weights",
    "gradient_flow",
    "init_forget_bias",
    "init_gates",
    "lstm_layer",
    "lstm_num_parameters",
    "lstm_step",
    "saturation",
    "to_torch",
    "trace_gates",
]
