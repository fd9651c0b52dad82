"""Counting and listing parameters: closed-form counts (the LSTM and its variants, the GRU, the
plain RNN) and the lecture's parameter listing.

On the reading path after :mod:`scratch_lstm.variants`, with ``examples/02_parameters.py``,
which prints the listing and the 16 gate tensors of a layer; next, :mod:`scratch_lstm.gates`.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from .variants import VARIANTS, check_variant

GATES = ("i", "f", "g", "o")
_GATE_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def lstm_num_parameters(
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
    proj_size: int = 0,
    *,
    variant: str = "vanilla",
    used_only: bool = False,
) -> int:
    r"""Number of parameters of ``nn.LSTM`` / :class:`scratch_lstm.LSTM`, from the gate structure.

    With ``H = hidden_size``, ``P = proj_size or H`` (the size of the hidden state passed on),
    ``D = 2 if bidirectional else 1`` and ``I_k`` the input size of layer ``k``
    (``I_0 = input_size``, ``I_k = D * P`` above it), each layer and direction holds::

        4 gates x (  H * I_k      input weights   W_i*   (one H x I_k block per gate)
                   + H * P        recurrent weights W_h* (one H x P block per gate)
                   + 2 * H )      two bias vectors b_i*, b_h* (only if bias)
        + P * H                   projection W_hr        (only if proj_size > 0)

    so the total is ``D * sum_k [4H (I_k + P + 2 bias) + [proj] P H]``. The lecture's
    ``LSTM(28, 256, num_layers=2)`` has ``4*256*(28+256+2) + 4*256*(256+256+2) = 819,200``.

    ``variant`` (one of :data:`scratch_lstm.variants.VARIANTS`) adds ``3H`` per layer and
    direction for ``"peephole"`` (the diagonal weights ``w_ci, w_cf, w_co``). With
    ``used_only``, the rows of a gate the variant drops (i for NIG and CIFG, f for NFG, o for NOG:
    ``H (I_k + P + 2 bias)`` each) are not counted: what is left is what the output depends on.
    """
    check_variant(variant)
    H = hidden_size
    P = proj_size or hidden_size
    D = 2 if bidirectional else 1
    per_gate_bias = 2 if bias else 0
    projection = P * H if proj_size > 0 else 0
    gates = 4 - (len(VARIANTS[variant].unused_gates) if used_only else 0)
    added = len(VARIANTS[variant].added) * H

    def per_direction(layer_input_size: int) -> int:
        return gates * H * (layer_input_size + P + per_gate_bias) + projection + added

    first = per_direction(input_size)
    above = per_direction(D * P)
    return D * (first + (num_layers - 1) * above)


def gru_num_parameters(input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                       bidirectional: bool = False) -> int:
    """Number of parameters of ``nn.GRU`` / :class:`scratch_lstm.GRU`: three gates (r, z, n), each
    ``H (I_k + H + 2 bias)`` per layer and direction, so ``D * sum_k 3H (I_k + H + 2 bias)`` with
    ``I_0 = input_size`` and ``I_k = D H`` above: three quarters of the LSTM's."""
    return _stack_count(3, input_size, hidden_size, num_layers, bias, bidirectional)


def rnn_num_parameters(input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                       bidirectional: bool = False) -> int:
    """Number of parameters of ``nn.RNN`` / :class:`scratch_lstm.RNN`: one block
    ``H (I_k + H + 2 bias)`` per layer and direction, so ``D * sum_k H (I_k + H + 2 bias)``: a
    quarter of the LSTM's."""
    return _stack_count(1, input_size, hidden_size, num_layers, bias, bidirectional)


def _stack_count(gates: int, input_size: int, hidden_size: int, num_layers: int, bias: bool,
                 bidirectional: bool) -> int:
    H, D = hidden_size, 2 if bidirectional else 1

    def per_direction(layer_input_size: int) -> int:
        return gates * H * (layer_input_size + H + (2 if bias else 0))

    return D * (per_direction(input_size) + (num_layers - 1) * per_direction(D * H))


def _gate_rows(name: str, shape: tuple[int, ...]) -> str | None:
    """For a gate-stacked LSTM parameter, say which rows hold which gate."""
    base = name.rsplit(".", 1)[-1]
    if not base.startswith(_GATE_PARAMS) or shape[0] % 4:
        return None
    H = shape[0] // 4
    per_gate = int(np.prod(shape)) // 4
    return " | ".join(
        f"{gate}: rows {k * H}:{(k + 1) * H} ({per_gate:,})" for k, gate in enumerate(GATES)
    )


def format_parameters(model: nn.Module, gates: bool = True) -> str:
    """The lecture's parameter listing of ``model``, with a per-gate breakdown.

    One entry per trainable parameter: ``[idx] name:[...] shape:[...].``, its first five
    values, and (when ``gates``) which rows of an LSTM weight belong to the i, f, g and o gates.
    Ends with ``Total number of parameters:[N].`` and, for LSTMs, the total owned by each gate.
    """
    lines = []
    n_param = 0
    per_gate = dict.fromkeys(GATES, 0)
    with np.printoptions(precision=3):
        for p_idx, (name, param) in enumerate(model.named_parameters()):
            if not param.requires_grad:
                continue
            values = param.detach().cpu().numpy()
            n_param += values.size
            lines.append(f"[{p_idx}] name:[{name}] shape:[{values.shape}].")
            lines.append(f"    val:{values.reshape(-1)[:5]}")
            rows = _gate_rows(name, values.shape) if gates else None
            if rows:
                lines.append(f"    gates: {rows}")
                for gate in GATES:
                    per_gate[gate] += values.size // 4
    lines.append(f"Total number of parameters:[{n_param:,}].")
    if gates and any(per_gate.values()):
        gate_total = sum(per_gate.values())
        shares = ", ".join(f"{g} {n:,}" for g, n in per_gate.items())
        lines.append(
            f"Per gate (weights and biases of i, f, g, o): {shares}; "
            f"other parameters (projection, classifier head): {n_param - gate_total:,}."
        )
    return "\n".join(lines)
