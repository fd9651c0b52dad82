"""scratch-lstm: an LSTM written from its gate equations, weight-compatible with ``torch.nn.LSTM``.

Start reading at :mod:`scratch_lstm.cell` (one step), then :mod:`scratch_lstm.layer` (the loop
over time) and :mod:`scratch_lstm.lstm` (the stack of layers); :mod:`scratch_lstm.fused` derives
the backward by hand and :mod:`scratch_lstm.triton_lstm` runs the same equations as GPU kernels.
The study tools: :mod:`scratch_lstm.gates` (traces of every gate, the forget-gate
initialisations), :mod:`scratch_lstm.gradient_flow` (how much gradient reaches each step),
:mod:`scratch_lstm.variants` (why these four gates: the LSTM's variants, the plain RNN and the GRU
one step each, with :mod:`scratch_lstm.rnn`'s :class:`RNN` and :class:`GRU` beside ``nn.RNN`` and
``nn.GRU``) and :mod:`scratch_lstm.clamps` (lesions: a gate of a trained model held fixed).
The training app (data, the trainer, the ``scratch-lstm`` command line) is :mod:`scratch_lstm.app`.
"""

from . import _startup  # noqa: F401  first: Ctrl-C while the command imports torch (see there)
from .cell import LSTMCell, LSTMStep, lstm_step
from .clamps import GateClamp
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
from .params import format_parameters, gru_num_parameters, lstm_num_parameters, rnn_num_parameters
from .rnn import GRU, RNN
from .variants import VARIANTS, GRUStep, gru_step, rnn_step, variant_step

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "INITS",
    "RNN",
    "VARIANTS",
    "GRUStep",
    "GateClamp",
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
    "gru_num_parameters",
    "gru_step",
    "init_forget_bias",
    "init_gates",
    "lstm_layer",
    "lstm_num_parameters",
    "lstm_step",
    "rnn_num_parameters",
    "rnn_step",
    "saturation",
    "to_torch",
    "trace_gates",
    "variant_step",
]
