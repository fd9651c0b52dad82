"""How the modules follow ``torch.nn`` under autocast: which dtypes go in, which come out.

Skippable on the reading path: nothing here is about the LSTM, only about mirroring ``torch.nn``'s
dtypes under mixed precision.

Autocast (``torch.autocast``) runs chosen ops (matrix products among them) in a low-precision
dtype, bfloat16 or float16, and leaves every other op to ordinary type promotion. It lowers only
*eligible* tensors: floating point and not float64. What ``nn.LSTM`` and ``nn.LSTMCell`` return
under it, and how this package mirrors that:

- ``nn.LSTM`` on its main paths (oneDNN on the CPU, cuDNN on CUDA) casts every tensor to the
  autocast dtype and returns output, ``h_n`` and ``c_n`` in it, with one exception: cuDNN's
  LSTM casts to float16 under a bfloat16 autocast too (torch 2.11, cuDNN 9.19, H200).
  :class:`scratch_lstm.LSTM` returns :func:`autocast_output_dtype`, the dtype asked for, and
  computes in the weights' dtype in between.
- ``nn.LSTMCell`` on the CPU is composite: its matrix products run in the autocast dtype, then
  ``c' = f ⊙ c + i ⊙ g`` promotes with the dtype of ``c``. On CUDA, ``lstm_cell`` is on autocast's
  list and everything is cast. :func:`autocast_cell_dtype` states both rules.
- A float64 model under autocast is left alone (float64 in, float64 out); a float64 tensor
  meeting an eligible one in a matrix product fails inside ``torch.nn``'s kernels, and
  :func:`autocast_accepts` lets the modules say so before any arithmetic.
"""

from __future__ import annotations

import contextlib

import torch


def autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for ``device_type``; ``False`` for a device autocast does not know
    (``meta``, where shapes are inferred without data, as ``nn.LSTM`` allows)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except RuntimeError:  # "unknown device type for autocast"
        return False


def _eligible(dtype: torch.dtype) -> bool:
    return dtype.is_floating_point and dtype != torch.float64


def autocast_output_dtype(device_type: str, weight_dtype: torch.dtype) -> torch.dtype | None:
    """The dtype ``nn.LSTM`` returns under autocast, or ``None`` when nothing is to be cast.

    ``None`` when autocast is off for ``device_type`` or the weights are not eligible
    (float64); otherwise the autocast dtype of that device.
    """
    if not autocast_enabled(device_type) or not _eligible(weight_dtype):
        return None
    return torch.get_autocast_dtype(device_type)


def autocast_cell_dtype(
    device_type: str, weight_dtype: torch.dtype, c_dtype: torch.dtype
) -> torch.dtype | None:
    """The dtype ``nn.LSTMCell`` returns under autocast (given the dtype of the cell state ``c``).

    On CUDA ``lstm_cell`` is on autocast's list, so the autocast dtype; elsewhere it is composite
    and ``f ⊙ c`` promotes the autocast dtype with ``c``'s. ``None`` as in
    :func:`autocast_output_dtype`.
    """
    dtype = autocast_output_dtype(device_type, weight_dtype)
    if dtype is None or device_type == "cuda":
        return dtype
    return torch.promote_types(dtype, c_dtype)


def autocast_accepts(dtype: torch.dtype, weight_dtype: torch.dtype, device_type: str) -> bool:
    """Whether autocast makes a tensor of ``dtype`` usable with weights of ``weight_dtype``.

    True when autocast is on for ``device_type`` and both dtypes are eligible (it then lowers
    both to one dtype); float64 is never lowered, so it must match exactly.
    """
    return autocast_enabled(device_type) and _eligible(dtype) and _eligible(weight_dtype)


def autocast_note(device_type: str) -> str:
    """What a dtype error raised under autocast adds to its message (empty outside autocast)."""
    if not autocast_enabled(device_type):
        return ""
    return (
        " and autocast cannot reconcile them (it lowers float32, float16 and bfloat16 tensors, "
        "never float64 or integer ones)"
    )


def autocast_disabled(device_type: str):
    """A context that turns autocast off for ``device_type`` (a no-op when it is already off).

    The fast paths compute in the dtype of their inputs, forward and backward, whatever the
    caller's autocast state; :class:`scratch_lstm.LSTM` casts around them.
    """
    if autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()
