"""Ctrl-C while the ``scratch-lstm`` command starts: one line and exit code 130, not a traceback.

Skippable on the reading path: this is about the command line, not about the LSTM.

The command spends its first seconds importing torch, before any of its own code runs; Python's
default answer to a Ctrl-C there is a ``KeyboardInterrupt`` traceback out of torch's import.
:func:`quiet_interrupt_while_starting` runs when :mod:`scratch_lstm` imports this module, before
anything else, and only when this process is the command (``scratch-lstm ...`` or
``python -m scratch_lstm ...``) makes a Ctrl-C end it with one line; the command's ``main()``
then hands Ctrl-C back to Python (:func:`restore_interrupts`) and answers it itself. A program
that imports ``scratch_lstm`` is left alone. Only the standard library is imported here.
"""

from __future__ import annotations

import os
import signal
import sys

_MESSAGE = b"error: interrupted while scratch-lstm was starting. Nothing was written\n"


def is_the_command() -> bool:
    """Whether this process runs the ``scratch-lstm`` command (not a program that imports the
    package): ``scratch-lstm ...`` or ``python -m scratch_lstm ...``."""
    argv, orig = sys.argv, getattr(sys, "orig_argv", [])
    if not argv:
        return False
    if os.path.basename(argv[0]) in ("scratch-lstm", "scratch-lstm.exe", "scratch-lstm-script.py"):
        return True
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)  # -m: found, or still looked for
    running = argv[0] == "-m" or getattr(spec, "name", None) == "scratch_lstm.__main__"
    return running and any(a == "-m" and b == "scratch_lstm" for a, b in zip(orig, orig[1:]))


def _stop(signum, frame) -> None:
    os.write(2, _MESSAGE)
    os._exit(130)


def quiet_interrupt_while_starting() -> None:
    """In the ``scratch-lstm`` command's own process, while Python's default Ctrl-C handler is in
    place: a Ctrl-C prints one line and exits with code 130 until :func:`restore_interrupts`."""
    if is_the_command() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop)


def restore_interrupts() -> None:
    """Give Ctrl-C back to Python (a ``KeyboardInterrupt``), if
    :func:`quiet_interrupt_while_starting` had taken it."""
    if signal.getsignal(signal.SIGINT) is _stop:
        signal.signal(signal.SIGINT, signal.default_int_handler)


quiet_interrupt_while_starting()
