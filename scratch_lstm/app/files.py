"""Files that are never half-written: atomic replacement, JSON, checkpoints, and a fault hook.

Every file of a run folder (and every figure and report) is written to a temporary sibling
``.NAME.tmp-PID``, flushed to disk, then renamed over ``NAME``: a reader sees the old file or
the new one, never a part. A writer that is killed leaves its temporary file behind;
:func:`remove_stale_temp_files` removes those whose writer is gone.

Test hook (not for users): ``SCRATCH_LSTM_FAULT="POINT#N"`` kills the process with SIGKILL, as
``kill -9`` would, the N-th time (default 1) it reaches POINT, where POINT is
``before-rename:NAME`` (the temporary file of NAME is written, not yet renamed) or
``after:NAME`` (NAME was just replaced); NAME is a run-folder file such as ``last.pt``.
``tests/test_faults.py`` uses it to stop a run between any two writes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import torch

_FAULT_HITS: dict[str, int] = {}


def _fault_point(point: str) -> None:
    """The test hook described in the module docstring: SIGKILL at the N-th arrival at ``point``."""
    spec = os.environ.get("SCRATCH_LSTM_FAULT")
    if not spec:
        return
    name, _, n = spec.partition("#")
    if name != point:
        return
    _FAULT_HITS[point] = _FAULT_HITS.get(point, 0) + 1
    if _FAULT_HITS[point] == int(n or 1):
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write_bytes(path: Path, write) -> None:
    """Write a file through a temporary sibling ``.NAME.tmp-PID`` and rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _fault_point(f"before-rename:{path.name}")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fault_point(f"after:{path.name}")


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


_TEMP_FILE = re.compile(r"\..+\.tmp-(\d+)")


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


def remove_stale_temp_files(out: Path) -> list[str]:
    """Delete the temporary files ``.NAME.tmp-PID`` in ``out`` whose writer is gone (killed
    mid-write); returns their names."""
    removed = []
    for p in sorted(Path(out).iterdir()):
        m = _TEMP_FILE.fullmatch(p.name)
        if m and p.is_file() and not _writer_is_alive(int(m.group(1))):
            p.unlink()
            removed.append(p.name)
    return removed
