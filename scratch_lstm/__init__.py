"""scratch-lstm: an LSTM written from its gate equations, weight-compatible with ``torch.nn.LSTM``.

The reading path, concepts first, then the engineering (the notation is the box at the top of
cell.py)::

    1. hand_wired.py      with examples/01_hand_wired_memory.py: one unit wired by hand, what
                          each gate does with information
    2. cell.py            one step: the six gate equations, the notation
    3. layer.py           the loop over time, one layer and one direction
    4. gradient_flow.py   with docs/why-lstm.md: why the gradient survives; backward_through_time
    5. variants.py        with docs/why-gates.md and example 07: what each gate buys
    6. params.py          where the parameters live and how many there are (example 02)
    7. gates.py           the gates at work, the forget-gate initialisations (example 05)
    8. lstm.py            the stack of layers and directions with nn.LSTM's parameters
    9. fused.py           the same derivation made fast (impl="fused")
   10. triton_lstm.py     advanced: the same equations as GPU kernels (impl="triton")

Beside the path: rnn.py (RNN and GRU, twins of nn.RNN and nn.GRU), clamps.py (lesions: a gate of
a trained model held fixed), classifier.py (the lecture's classifier: an LSTM and a Linear head),
convert.py (from_torch, to_torch) and exercises.py (the examples' exercises: check_<name>(answer)
says "correct" or what is wrong, with a hint). Skippable, not about the LSTM: impls.py (which
implementation runs), autograd.py (the autograd glue the fast paths share), checks.py (nn.LSTM's
argument and input checks), autocast.py (dtypes under autocast), precision.py (float32 or TF32 on
GPUs), _startup.py (Ctrl-C, --help and argument errors while the command starts).
The training app (data, the trainer, the ``scratch-lstm`` command line) is :mod:`scratch_lstm.app`.
"""

try:
    from . import _startup  # noqa: F401  first: Ctrl-C while the command imports torch (see there)
except KeyboardInterrupt:  # a Ctrl-C while _startup itself loaded, before its handler was in place
    from . import _startup

    _startup.interrupted_while_loading()
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
    "explore",
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


def __getattr__(name: str):
    """``scratch_lstm.explore``: the gate explorer's page (:func:`scratch_lstm.app.explorer.explore`),
    imported on first use. The page is made by the training app (checkpoints, data, atomic writes),
    which the model's modules never import; ``import scratch_lstm`` alone does not load it."""
    if name == "explore":
        from .app.explorer import explore

        return explore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
