"""Files that are never half-written: atomic replacement, JSON, checkpoints, and a fault hook.

Every file of a run folder (and every figure and report) is written to a temporary sibling
``.NAME.scratch-lstm-tmp-PID``, flushed to disk, then renamed over ``NAME``: a reader sees the old
file or the new one, never a part. A Ctrl-C during a write is held back until the file is in place
(:func:`interrupts_deferred`), so torch's zip writer is never cut off. A writer that is killed
leaves its temporary file behind; :func:`remove_stale_temp_files` removes those whose writer is
gone, and only those: the ``scratch-lstm-tmp`` marker in the name and a NAME of this program's
files, never another program's ``.x.tmp-123``.

Test hook (not for users): ``SCRATCH_LSTM_FAULT="POINT#N"`` kills the process with SIGKILL, as
``kill -9`` would, the N-th time (default 1) it reaches POINT, where POINT is
``before-rename:NAME`` (the temporary file of NAME is written, not yet renamed),
``after:NAME`` (NAME was just replaced) or ``during:NAME`` (the first bytes of NAME are being
written, inside torch's zip writer for a checkpoint); NAME is a run-folder file such as
``last.pt``. POINT may also be ``loaded:data`` (the dataset was just read). With the prefix
``int:`` (``int:during:last.pt``) the process sends itself SIGINT, as Ctrl-C would, instead.
``tests/test_faults.py`` uses it to stop a run between any two writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

import torch

_FAULT_HITS: dict[str, int] = {}


def fault_point(point: str) -> None:
    """The test hook described in the module docstring: SIGKILL (or, with ``int:``, SIGINT) at the
    N-th arrival at ``point``."""
    spec = os.environ.get("SCRATCH_LSTM_FAULT")
    if not spec:
        return
    spec, _, n = spec.partition("#")
    interrupt = spec.startswith("int:")
    if spec.removeprefix("int:") != point:
        return
    _FAULT_HITS[point] = _FAULT_HITS.get(point, 0) + 1
    if _FAULT_HITS[point] == int(n or 1):
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGINT if interrupt else signal.SIGKILL)


class _FaultyFile:
    """A file whose first write reaches the fault point ``during:NAME`` (the test hook only)."""

    def __init__(self, fh, name: str) -> None:
        self.fh, self.name, self.started = fh, name, False

    def write(self, data):
        written = self.fh.write(data)
        if not self.started:
            self.started = True
            fault_point(f"during:{self.name}")
        return written

    def __getattr__(self, attr):
        return getattr(self.fh, attr)


TEMP_MARKER = "scratch-lstm-tmp"


def temp_name(name: str, pid: int | None = None) -> str:
    """The temporary sibling's name for ``name``: ``.NAME.scratch-lstm-tmp-PID``."""
    return f".{name}.{TEMP_MARKER}-{os.getpid() if pid is None else pid}"


_INTERRUPTS: list[int] = []  # Ctrl-Cs seen; kept even where a library swallows the exception


def on_interrupt(signum, frame) -> None:
    """The command's SIGINT handler: note the Ctrl-C, then raise ``KeyboardInterrupt`` as Python's
    own handler does. The note outlives an exception that a library's C code clears, so that
    :func:`raise_if_interrupted`, polled between batches, still stops the run."""
    _INTERRUPTS.append(signum)
    raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C was noted (:func:`on_interrupt`) and swallowed."""
    if _INTERRUPTS:
        raise KeyboardInterrupt


def forget_interrupts() -> None:
    """Forget the Ctrl-Cs noted so far (a new command starts)."""
    _INTERRUPTS.clear()


@contextlib.contextmanager
def interrupts_deferred():
    """Hold back a Ctrl-C (SIGINT) until the block ends, then raise it as ``KeyboardInterrupt``.

    A write interrupted half-way would leave a broken temporary file, and torch's zip writer turns
    the interrupt into a ``RuntimeError``; deferred, the file is complete first. Only the main
    thread can handle signals: elsewhere, and where a handler other than Python's or
    :func:`on_interrupt` is installed, the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or previous not in (signal.default_int_handler, on_interrupt)):
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        _INTERRUPTS.extend(caught)
        raise KeyboardInterrupt


def atomic_write_bytes(path: Path, write) -> None:
    """Write a file through a temporary sibling (:func:`temp_name`) and rename it into place; a
    Ctrl-C meanwhile comes after the rename (:func:`interrupts_deferred`)."""
    path = Path(path)
    tmp = path.with_name(temp_name(path.name))
    with interrupts_deferred():
        try:
            with open(tmp, "wb") as fh:
                hooked = "during:" in os.environ.get("SCRATCH_LSTM_FAULT", "")
                write(_FaultyFile(fh, path.name) if hooked else fh)
                fh.flush()
                os.fsync(fh.fileno())
            fault_point(f"before-rename:{path.name}")
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    fault_point(f"after:{path.name}")


def save_json(path: Path, obj) -> None:
    """Atomically write ``obj`` as indented, strict JSON (a NaN or inf is a ``ValueError``)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """Atomically ``torch.save`` a checkpoint dict; a failed write (a full disk) is its ``OSError``."""
    def write(fh):
        try:
            torch.save(checkpoint, fh)
        except RuntimeError as e:  # torch's zip writer hides a failed write behind its own error
            if isinstance(e.__context__, OSError):
                raise e.__context__ from None
            raise

    atomic_write_bytes(path, write)


_TEMP_FILE = re.compile(rf"\.(.+)\.{TEMP_MARKER}-(\d+)")


def _writer_is_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process has written nothing yet: a dead writer's pid, reused
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(out: Path, names) -> list[str]:
    """Delete the temporary files of this program (:func:`temp_name`) in ``out`` that stand for
    one of ``names`` (the run folder's files) and whose writer is gone (killed mid-write); returns
    their names. Any other file, a user's ``.draft.tmp-123`` included, is left alone."""
    removed = []
    for p in sorted(Path(out).iterdir()):
        m = _TEMP_FILE.fullmatch(p.name)
        if (m and m.group(1) in names and p.is_file() and not p.is_symlink()
                and not _writer_is_alive(int(m.group(2)))):
            p.unlink()
            removed.append(p.name)
    return removed
