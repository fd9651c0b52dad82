"""Which float32 precision GPU matrix products use: IEEE fp32 or TF32, read and set as torch does.

Skippable on the reading path: this is about GPU float32 settings, not about the LSTM.

On Ampere and later GPUs, cuBLAS (``torch.matmul``, ``nn.Linear``) and cuDNN (``nn.LSTM``) may
multiply float32 matrices in TF32: inputs rounded to a 10-bit mantissa, about 1e-3 relative
error, several times faster. torch has two ways to say which:

- the legacy flags ``torch.backends.cuda.matmul.allow_tf32`` (cuBLAS, off by default) and
  ``torch.backends.cudnn.allow_tf32`` (cuDNN, **on** by default);
- since torch 2.9, ``fp32_precision`` attributes (``"ieee"``, ``"tf32"`` or ``"none"``: inherit
  from the level above), from ``torch.backends.fp32_precision`` down to
  ``torch.backends.cuda.matmul.fp32_precision`` and ``torch.backends.cudnn.rnn.fp32_precision``.

Mixing them is an error *when read*: once a user sets ``torch.backends.cuda.matmul.fp32_precision``
(or ``torch.backends.fp32_precision``), reading ``allow_tf32`` raises ``RuntimeError``. So
:func:`matmul_precision` reads the new attributes first and the legacy flag last, and
:func:`set_fp32_precision` sets through the legacy flags, which every torch version has and which
update the new attributes too, so that afterwards both agree and nothing raises.

The Triton kernels (:mod:`scratch_lstm.triton_lstm`) follow :func:`matmul_precision`, as cuBLAS
does; comparing them with cuDNN is fair only with both in the same precision
(:func:`fp32_precision`).
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("ieee", "tf32")  # full float32 products; TF32 (tensor cores, 10-bit mantissa inputs)


def matmul_precision() -> str:
    """``"tf32"`` or ``"ieee"``: the precision cuBLAS uses for float32 products now. Never raises.

    The most specific setting that is not ``"none"`` decides (``cuda.matmul.fp32_precision``,
    then ``torch.backends.fp32_precision``), else the legacy ``allow_tf32``.
    """
    matmul = torch.backends.cuda.matmul
    for level in (getattr(matmul, "fp32_precision", None),  # absent before torch 2.9
                  getattr(torch.backends, "fp32_precision", None)):
        if level in PRECISIONS:
            return level
    try:
        return "tf32" if matmul.allow_tf32 else "ieee"
    except RuntimeError:  # the legacy flag refuses to answer after a mix of the two APIs
        return "ieee"


def set_fp32_precision(precision: str) -> None:
    """Make cuBLAS and cuDNN (and so the Triton kernels and ``nn.LSTM``) use ``precision``.

    ``precision`` is one of :data:`PRECISIONS`; anything else is a ``ValueError``. Harmless on a
    machine without a GPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32  # also sets cuda.matmul.fp32_precision (torch >= 2.9)
    torch.backends.cudnn.allow_tf32 = tf32  # also sets cudnn's rnn and conv fp32_precision


@contextlib.contextmanager
def fp32_precision(precision: str):
    """``with fp32_precision("ieee"):`` cuBLAS and cuDNN in ``precision`` inside, as before after."""
    before = matmul_precision(), _cudnn_precision()
    set_fp32_precision(precision)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before[0] == "tf32"
        torch.backends.cudnn.allow_tf32 = before[1] == "tf32"


def _cudnn_precision() -> str:
    """What cuDNN's LSTM uses now, read like :func:`matmul_precision` (rnn, cudnn, generic, legacy)."""
    cudnn = torch.backends.cudnn
    rnn = getattr(cudnn, "rnn", None)
    for level in (getattr(rnn, "fp32_precision", None), getattr(cudnn, "fp32_precision", None),
                  getattr(torch.backends, "fp32_precision", None)):
        if level in PRECISIONS:
            return level
    try:
        return "tf32" if cudnn.allow_tf32 else "ieee"
    except RuntimeError:
        return "ieee"
