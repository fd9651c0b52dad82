"""How a command ends: one ``error:`` line and an exit code, never a traceback.

:func:`run` runs a command's body for ``scratch-lstm`` (:mod:`~scratch_lstm.app.cli`) and for
the scripts in ``benchmarks/``, so that they all end alike:

- a mistake the user can fix (:class:`DataError`, :class:`TrainingError`), an output that cannot
  be written (``> /dev/full``, a closed pipe), a failed write (naming the file), or memory that
  cannot be had: one ``error:`` line, exit code 2;
- Ctrl-C, at any moment: one ``error: interrupted. ...`` line, exit code 130. A second Ctrl-C
  while the first is answered is only noted (:func:`~scratch_lstm.app.files.on_interrupt`);
- SIGTERM (``kill PID``): answered as Ctrl-C is, the line saying ``terminated (SIGTERM)``, exit
  code 143 (:func:`~scratch_lstm.app.files.on_terminate`);
- a standard output or error that is closed (``>&-``, ``2>&-``): one line on the other one before
  anything runs, exit code 2;
- the last line says what was written (:func:`~scratch_lstm.app.files.what_was_written`), only
  what is true; a folder the command created and left empty is removed.

A body that knows more about what it leaves (``train``) says it in its :class:`Interrupted` or
:class:`TrainingError` message. :func:`finish` turns the code into the process's exit status.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading

from .._startup import is_the_command, restore_interrupts
from .errors import (
    DataError,
    Interrupted,
    OutputError,
    TrainingError,
    caused_by_interrupt,
    one_line,
    out_of_memory,
)
from .files import (
    WriteError,
    forget_interrupts,
    forget_written,
    on_interrupt,
    on_terminate,
    remove_created_folders,
    terminated,
    what_was_written,
)


class _Stdout:
    """``sys.stdout`` while a command runs: a write that fails is an :class:`OutputError` (the
    output, not a file of the run), and text the output's encoding cannot show (a folder name
    that is not UTF-8) is escaped instead of failing."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def _do(self, call, *args):
        try:
            return call(*args)
        except OSError as e:
            raise OutputError(f"cannot write to standard output ({e.strerror or one_line(e)})") from None

    def write(self, text: str):
        try:
            return self._do(self.stream.write, text)
        except UnicodeEncodeError:
            encoding = getattr(self.stream, "encoding", None) or "utf-8"
            return self._do(self.stream.write, text.encode(encoding, "backslashreplace").decode(encoding))

    def flush(self) -> None:
        self._do(self.stream.flush)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _discard_stdout(stream) -> None:
    """Point a failed standard output at /dev/null, so that Python's last flush on exit does not
    print a second error."""
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def error(text: str, stream=None) -> None:
    """Print ``error: text`` on standard error (or ``stream``); a stream that fails says nothing."""
    try:
        print(f"error: {text}", file=stream or sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def closed_streams() -> str | None:
    """An ``error:`` text if standard output or error is closed (``>&-``: Python then holds None for
    it), after giving the closed descriptors /dev/null, so that no file this process opens gets
    their number (and a library's write to it lands in no file of ours); else None."""
    closed = [name for name, stream in (("output", sys.stdout), ("error", sys.stderr)) if stream is None]
    if not closed:
        return None
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                if os.open(os.devnull, os.O_RDWR) != fd:  # the lowest free number: fd itself
                    break
            except OSError:
                break
    if closed == ["output"]:
        return ("standard output is closed (>&-), so the command could not say what it does; "
                "redirect it instead (> /dev/null to discard it). Nothing was written")
    return ("standard error is closed (2>&-), so errors and progress would be lost; redirect it "
            "instead (2> /dev/null to discard it). Nothing was written")


def _take_interrupts() -> dict:
    """Answer Ctrl-C with :func:`~scratch_lstm.app.files.on_interrupt` and SIGTERM with
    :func:`~scratch_lstm.app.files.on_terminate` (in the main thread, where signals are handled);
    returns the handlers to put back. A command started with a signal ignored (Ctrl-C in a
    background job of a script) keeps ignoring it, as Python itself does."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    restore_interrupts()  # the start-up handler's work is done
    previous = {}
    for signum, handler in ((signal.SIGINT, on_interrupt), (signal.SIGTERM, on_terminate)):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    return previous


def _stopped(text: str) -> tuple[str, int]:
    """A stopped command's line and exit code: Ctrl-C's (130), or SIGTERM's (143)."""
    if terminated():
        return "terminated (SIGTERM)" + text.removeprefix("interrupted"), 143
    return text, 130


def run(body) -> int:
    """Run ``body()`` (which returns the exit code) as a command; returns its exit code, every
    failure a user can act on turned into one ``error:`` line (see the module docstring)."""
    closed = closed_streams()
    if closed:
        error(closed, sys.stderr if sys.stderr is not None else sys.stdout)
        return 2
    real_stdout, previous = sys.stdout, {}
    try:  # each line out at once, also into a pipe or a log (and a closed one noticed at once)
        real_stdout.reconfigure(line_buffering=True)
    except (AttributeError, ValueError, OSError):
        pass
    sys.stdout = _Stdout(real_stdout)
    forget_written()
    forget_interrupts()  # an earlier command's, in this process
    code = 2
    try:
        previous = _take_interrupts()
        code = body()
        sys.stdout.flush()
        return code
    except (DataError, TrainingError) as e:
        error(str(e))
    except OutputError as e:
        error(str(e))
        _discard_stdout(real_stdout)
    except Interrupted as e:
        text, code = _stopped(str(e))
        error(text)
    except KeyboardInterrupt:
        text, code = _stopped(f"interrupted. {what_was_written()}")
        error(text)
    except (MemoryError, RuntimeError) as e:
        if caused_by_interrupt(e):
            text, code = _stopped(f"interrupted. {what_was_written()}")
            error(text)
        elif out_of_memory(e):
            error(f"out of memory ({one_line(e, 160)}): what was asked for needs more memory than "
                  f"this process can get; ask for less (smaller sizes or batches). {what_was_written()}")
        else:
            raise
    except WriteError as e:  # a full disk, ulimit -f, a folder that is gone
        error(f"could not write {e.filename}: {e.strerror}. {what_was_written()}")
    except OSError as e:  # a vanished folder, an unreadable file: the system's words and the file
        where = f": {e.filename}" if e.filename else ""
        error(f"{e.strerror or one_line(e)}{where}. {what_was_written()}")
    finally:
        sys.stdout = real_stdout
        if code != 0:
            remove_created_folders()
        for signum, handler in previous.items():
            try:
                signal.signal(signum, handler)
            except KeyboardInterrupt:  # a Ctrl-C or SIGTERM, already answered
                pass
    return code


def finish(code: int) -> int:
    """The exit status of a command's process for ``code``. In the command's own process (the
    ``scratch-lstm`` command or a script of ``benchmarks/``), a Ctrl-C from here on changes
    nothing: the command has said how it ended."""
    if not is_the_command():
        return code
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except (ValueError, OSError):  # not the main thread
        pass
    if code in (130, 143):
        # CPython kills itself with SIGINT on exit once a Ctrl-C has passed through code that
        # torch runs from C (PyRun_*), whatever the exit code; ending here keeps it (130, or 143).
        gc.collect()  # what holds a system resource (a worker pool's semaphores) releases it first
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)
    return code
