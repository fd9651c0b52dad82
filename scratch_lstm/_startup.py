"""Ctrl-C while the ``scratch-lstm`` command starts: one line and exit code 130, not a traceback.

Skippable on the reading path: this is about the command line, not about the LSTM.

The command spends its first seconds importing torch, before any of its own code runs; Python's
default answer to a Ctrl-C there is a ``KeyboardInterrupt`` traceback out of torch's import.
:func:`quiet_interrupt_while_starting` runs when :mod:`scratch_lstm` imports this module, before
anything else, and only when this process is the command (``scratch-lstm ...`` or
``python -m scratch_lstm ...``, or a script of the project's ``benchmarks/`` folder) makes a
Ctrl-C end it with one line; the command's ``main()`` then hands Ctrl-C back to Python
(:func:`restore_interrupts`) and answers it itself. A program that imports ``scratch_lstm`` is
left alone. This module imports nothing that Python has not loaded before running any code
(``_signal`` is the C half of ``signal``, whose Python half imports ``enum``): the sooner its
handler is in place, the shorter the moment in which a Ctrl-C still gets Python's traceback.
"""

import _signal
import os
import sys

_MESSAGE = b"error: interrupted while scratch-lstm was starting. Nothing was written\n"


def _is_a_benchmark_script(path: str) -> bool:
    """Whether ``path`` is a script of this project's ``benchmarks/`` folder (beside a
    ``scratch_lstm`` package, whichever copy of the package is imported)."""
    folder = os.path.dirname(os.path.abspath(path))
    return (path.endswith(".py") and os.path.basename(folder) == "benchmarks"
            and os.path.isfile(os.path.join(os.path.dirname(folder), "scratch_lstm", "_startup.py")))


def is_the_command() -> bool:
    """Whether this process runs the ``scratch-lstm`` command (not a program that imports the
    package): ``scratch-lstm ...``, ``python -m scratch_lstm ...``, or ``python
    benchmarks/SCRIPT.py ...`` (the project's scripts end as the command does)."""
    argv, orig = sys.argv, getattr(sys, "orig_argv", [])
    if not argv:
        return False
    if os.path.basename(argv[0]) in ("scratch-lstm", "scratch-lstm.exe", "scratch-lstm-script.py"):
        return True
    if _is_a_benchmark_script(argv[0]):
        return True
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)  # -m: found, or still looked for
    running = argv[0] == "-m" or getattr(spec, "name", None) == "scratch_lstm.__main__"
    return running and any(a == "-m" and b == "scratch_lstm" for a, b in zip(orig, orig[1:]))


def _stop(signum, frame) -> None:
    try:
        os.write(2, _MESSAGE)
    except OSError:  # standard error is closed
        pass
    os._exit(130)


def quiet_interrupt_while_starting() -> None:
    """In the ``scratch-lstm`` command's own process, while Python's default Ctrl-C handler is in
    place: a Ctrl-C prints one line and exits with code 130 until :func:`restore_interrupts`."""
    if is_the_command() and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _stop)


def interrupted_while_loading() -> None:
    """A Ctrl-C came while this module loaded (the package's ``__init__`` caught it): end with the
    one line in the command's own process; elsewhere raise it on, as Python would have."""
    if is_the_command():
        _stop(_signal.SIGINT, None)
    raise KeyboardInterrupt


def restore_interrupts() -> None:
    """Give Ctrl-C back to Python (a ``KeyboardInterrupt``), if
    :func:`quiet_interrupt_while_starting` had taken it."""
    if _signal.getsignal(_signal.SIGINT) is _stop:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)


quiet_interrupt_while_starting()
