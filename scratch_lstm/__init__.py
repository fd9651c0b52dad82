"""scratch-lstm: an LSTM written from its gate equations, weight-compatible with ``torch.nn.LSTM``.

The reading path, in the order a learner meets the LSTM (``docs/why-lstm.md`` first says why it
works; the notation is the box at the top of cell.py)::

    1. cell.py            one step: the six gate equations, the notation, why an LSTM works
    2. layer.py           the loop over time, one layer and one direction
    3. lstm.py, impls.py  the stack of layers and directions with nn.LSTM's parameters; which
                          implementation runs (scratch, fused, triton)
    4. params.py          where the parameters live and how many there are (example 02)
    5. gates.py           the gates at work, the forget-gate initialisations (example 05)
    6. gradient_flow.py   backward_through_time: the textbook backward through time, plainly
    7. fused.py           the same derivation made fast (impl="fused")
    8. triton_lstm.py     advanced: the same equations as GPU kernels (impl="triton")

Beside the path: classifier.py (the lecture's classifier: an LSTM and a Linear head) and
convert.py (from_torch, to_torch). Skippable, not about the LSTM: autograd.py (the autograd glue
the fast paths share), checks.py (nn.LSTM's argument and input checks), autocast.py (dtypes under
autocast), precision.py (float32 or TF32 on GPUs), _startup.py (Ctrl-C while the command starts).
The training app (data, the trainer, the ``scratch-lstm`` command line) is :mod:`scratch_lstm.app`.
"""

from . import _startup  # noqa: F401  first: Ctrl-C while the command imports torch (see there)
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
