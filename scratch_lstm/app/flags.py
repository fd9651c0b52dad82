"""The command line's shared pieces: checked number types for argparse, and the help formatter.

Every flag that takes a number checks it here, so a bad value is argparse's one-line usage error
that says what was expected; ``scratch-lstm`` (:mod:`~scratch_lstm.app.cli`) and the benchmark's
own entry point (:mod:`~scratch_lstm.app.bench`) share them.
"""

from __future__ import annotations

import argparse
import math

from ..impls import IMPL_HELP
from .limits import cpu_count

BACKEND_HELP = "; ".join(f"{name}: {text}" for name, text in IMPL_HELP.items()) + "; torch: nn.LSTM"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that shows each flag's default, except where there is none (None, False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _number(text: str, kind, check, expected: str):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not check(value):
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    return _number(text, int, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def seed(text: str) -> int:
    """argparse type: a seed, 0 to 2**64 - 1."""
    return _number(text, int, lambda v: 0 <= v < 2**64, "an integer from 0 to 2**64 - 1")


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return _number(text, float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")


def probability(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    return _number(text, float, lambda v: 0 <= v <= 1, "a probability in [0, 1]")


def threads(text: str) -> int:
    """argparse type: a thread count, 1 to the CPUs this machine has."""
    n = cpu_count()
    return _number(text, int, lambda v: 1 <= v <= n, f"from 1 to {n} (the CPUs this machine has)")


def path(text: str) -> str:
    """argparse type: a file or folder name, not empty (an empty one would mean the current
    folder without saying so)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a file or folder name, got {text!r}")
    return text
