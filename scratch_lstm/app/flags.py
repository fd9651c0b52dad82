"""The command line's shared pieces: checked number types for argparse, and the help formatter.

Every flag that takes a number checks it here, so a bad value is argparse's one-line usage error
that says what was expected; ``scratch-lstm`` (:mod:`~scratch_lstm.app.cli`) and the benchmark's
own entry point (:mod:`~scratch_lstm.app.bench`) share them.
"""

from __future__ import annotations

import argparse
import math
import re

from ..clamps import GateClamp
from ..gates import CHRONO_MIN_T_MAX, INITS
from ..impls import IMPL_HELP
from .limits import FLOAT32_MAX, MAX_COUNT, cpu_count

BACKEND_HELP = "; ".join(f"{name}: {text}" for name, text in IMPL_HELP.items()) + "; torch: nn.LSTM"
INIT_HELP = ("the LSTM's gate initialisation: " + "; ".join(f"{name}: {text}" for name, text in INITS.items())
             + ". The weights are the same on every backend")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that shows each flag's default, except where there is none (None, False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


# What argparse takes for a negative number (a value, not a flag): its own pattern knows only
# -1 and -1.5, so `--forget-bias -1e30` was read as a flag and refused as a missing value.
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


def accept_negative_numbers(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` read ``-1e30``, ``-.5`` or ``-inf`` after a flag as its value (each number
    type then says whether it fits). Set on every parser: a subcommand's parser has its own."""
    parser._negative_number_matcher = _NEGATIVE_NUMBER


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


def count(text: str) -> int:
    """argparse type: a count of epochs or steps, 1 to :data:`~scratch_lstm.app.limits.MAX_COUNT`
    (what float64 holds exactly, so that a schedule computed from it never overflows)."""
    return _number(text, int, lambda v: 1 <= v <= MAX_COUNT, f"an integer from 1 to 2**53 ({MAX_COUNT:,})")


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    return _number(text, float, math.isfinite, "a finite number")


def forget_bias(text: str) -> float:
    """argparse type: a forget-gate bias, a number that float32 holds (a larger one becomes inf
    in the model's float32 biases)."""
    return _number(text, float, lambda v: math.isfinite(v) and abs(v) <= FLOAT32_MAX,
                   f"a finite number float32 can hold (at most {FLOAT32_MAX:.4g} in size)")


def chrono_t_max(text: str) -> int:
    """argparse type: chrono's longest timescale, an integer from 3 to 2**53."""
    return _number(text, int, lambda v: CHRONO_MIN_T_MAX <= v <= MAX_COUNT,
                   f"an integer from {CHRONO_MIN_T_MAX} to 2**53 ({MAX_COUNT:,})")


def add_init_flags(p: argparse.ArgumentParser) -> None:
    """``--init``, ``--forget-bias`` and ``--chrono-t-max`` (train and inspect)."""
    p.add_argument("--init", choices=tuple(INITS), default="default", help=INIT_HELP)
    p.add_argument("--forget-bias", type=forget_bias, default=None, metavar="B",
                   help="the forget-gate bias b_f = b_if + b_hf of --init forget-bias (default: 1.0)")
    p.add_argument("--chrono-t-max", type=chrono_t_max, default=None, metavar="T",
                   help="the longest timescale of --init chrono, in steps (default: the sequence "
                        "length: 28 rows, 784 pixels)")


def threads(text: str) -> int:
    """argparse type: a thread count, 1 to the CPUs this machine has."""
    n = cpu_count()
    return _number(text, int, lambda v: 1 <= v <= n, f"from 1 to {n} (the CPUs this machine has)")


def add_threads_flag(p: argparse.ArgumentParser, note: str = "") -> None:
    """``--threads N`` (every command that computes, and the benchmark scripts): torch's CPU
    threads, at most the CPUs that exist."""
    p.add_argument("--threads", type=threads, default=None, metavar="N",
                   help="CPU threads torch may use (torch.set_num_threads; default: one per core, or, "
                        "when other programs keep a CPU busy as the command starts, one per CPU they "
                        "leave free, whose waiting threads sleep rather than spin), at most the CPUs "
                        "this machine has" + note)


CLAMP_HELP = ("hold a gate of the trained LSTM at a value (a lesion) and report the accuracy beside the "
              "unclamped one, through the teaching path: GATE=VALUE[@LAYER][:UNITS][/STEPS], GATE one of i, f, "
              "o (VALUE in [0, 1]), g or h (in [-1, 1]; h=0 silences the units); without @LAYER every layer, "
              "without :UNITS every unit (indices and ranges a-b, comma-separated, from 0), without /STEPS every "
              "step (/t one step, /a-b a window: f=0/15 erases the memory at step 15). Repeat the flag to "
              "hold several at once. Examples: --clamp f=1 (no forget gate: the cell of 1997), --clamp i=0@1 "
              "(layer 1 writes nothing), --clamp h=0@0:3,7,9 (three units of layer 0 silenced), --clamp "
              "o=1:0-127")


def clamp(text: str) -> GateClamp:
    """argparse type: a lesion ``GATE=VALUE[@LAYER][:UNITS][/STEPS]`` (:meth:`scratch_lstm.GateClamp.parse`)."""
    try:
        return GateClamp.parse(text)
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(f"{e} (in {text!r})") from None


def path(text: str) -> str:
    """argparse type: a file or folder name, not empty (an empty one would mean the current
    folder without saying so)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a file or folder name, got {text!r}")
    return text


# Values of these forms each type always accepts; its own check decides any other value. Before
# torch loads, the start-up checks an argv against the parsers' flags (argv.json) and answers an
# argument error there only where every value before it has such a form: the others could be the
# first error the full parser finds (scratch_lstm._startup.answer_argument_errors).
_DECIMAL = r"(0?\.[0-9]{1,15}|[0-9]{1,15}(\.[0-9]{0,15})?)"
_EXPONENT = r"([eE][-+]?[0-9]{1,2})?"
_GATE_VALUE = r"(0|1|0?\.[0-9]{1,6})(@[0-9]{1,2})?"
PLAIN_VALUES = {
    positive_int: r"[1-9][0-9]{0,17}",
    non_negative_int: r"[0-9]{1,18}",
    seed: r"[0-9]{1,18}",
    count: r"[1-9][0-9]{0,14}",
    chrono_t_max: r"[3-9]|[1-9][0-9]{1,14}",
    threads: r"1",
    non_negative_float: _DECIMAL + _EXPONENT,
    positive_float: r"(0?\.0{0,14}[1-9][0-9]{0,14}|[1-9][0-9]{0,14}(\.[0-9]{0,15})?)" + _EXPONENT,
    probability: r"[01](\.0{0,15})?|0?\.[0-9]{1,15}",
    forget_bias: "-?" + _DECIMAL,
    clamp: f"[ifo]={_GATE_VALUE}|[gh]=-?{_GATE_VALUE}",
    path: r"(?s).*\S.*",
}
