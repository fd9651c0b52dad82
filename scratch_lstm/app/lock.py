"""One writer per run folder: an OS lock (``flock``) that dies with the process that holds it.

``train`` holds the lock of its run folder from the moment it creates or opens the folder until it
ends, however it ends (a ``kill -9`` too: the kernel releases the lock with the process). A second
``train`` or ``--resume`` with the same ``--out`` gets one error line naming the folder and the
process that holds it. The lock is the file ``.scratch-lstm.lock`` in the folder, holding the
holder's process id; it is removed when the lock is released (one left by a killed run is taken
over by the next). Anything else at that name (a folder, a FIFO, a link) is refused with one line,
never waited on. Where the OS has no ``flock`` (Windows), folders are not locked.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import TrainingError
from .files import file_kind

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = ".scratch-lstm.lock"


def _holder(fd: int) -> str:
    """The holder's process id as written in the lock file, for the message."""
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


def _in_use(folder: Path, fd: int) -> TrainingError:
    return TrainingError(f"{folder} is in use: scratch-lstm {_holder(fd)} is writing to it (a run "
                         "still training there). Wait for it to end, stop it, or choose another --out")


_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)  # never blocks


def _open(path: Path, flags: int) -> int:
    """Open the lock file without blocking or following a link; :class:`TrainingError` if what is
    there is not a regular file (a FIFO would block a plain open forever)."""
    fd = os.open(path, flags | _FLAGS, 0o644)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise TrainingError(f"{path} is {file_kind(mode)}, not the lock file scratch-lstm makes (a "
                            "regular file holding a process id): remove it, then run the command again")
    return fd


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def check_not_locked(folder: Path) -> None:
    """Refuse (:class:`TrainingError`) a folder whose lock another process holds; creates and
    changes nothing (a probe, for the checks before a run writes)."""
    if fcntl is None:
        return
    try:
        fd = _open(Path(folder) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return  # no lock file (or not ours to read): no holder
    try:
        if not _try_lock(fd):
            raise _in_use(folder, fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class FolderLock:
    """The held lock of a run folder (:func:`lock_folder`); :meth:`release` gives it back."""

    def __init__(self, path: Path | None, fd: int | None) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        """Remove the lock file (while still holding it, so no one locks a file being removed)
        and close it, which releases the lock. Safe to call twice."""
        if self.fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(self.path)
        except OSError:
            pass  # the folder is gone or not ours to clean: the lock still ends with the close
        os.close(self.fd)
        self.fd = None


def lock_folder(folder: Path) -> FolderLock:
    """Take the lock of the existing ``folder``, or raise :class:`TrainingError` naming the
    process that holds it. A lock file left by a killed run is taken over."""
    if fcntl is None:
        return FolderLock(None, None)
    path = Path(folder) / LOCK_FILE
    while True:
        fd = _open(path, os.O_RDWR | os.O_CREAT)
        if not _try_lock(fd):
            error = _in_use(folder, fd)
            os.close(fd)
            raise error
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its previous holder removed between our open and our lock
            break
        os.close(fd)
    lock = FolderLock(path, fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:  # a full disk: no empty lock file is left behind
        lock.release()
        raise
    return lock
