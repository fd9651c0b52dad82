"""Files that are never half-written and never written through a link: atomic replacement,
JSON, checkpoints, files read only when they are regular files, the write rule, and a fault hook.

The write rule (:func:`check_target`, the one place that says it): a command writes only a new
file or its own earlier output (told by content: :data:`MARKER`, a JSON file's keys), never its
input (compared by ``os.stat``, not by spelling), never anything that exists and is not a regular
file (a device, a FIFO, a folder, a link): refused before anything is computed, and refused again
by :func:`atomic_write_bytes` at the rename, whatever the caller checked.

Every file of a run folder (and every figure and report) is written to a temporary sibling
``.NAME.scratch-lstm-tmp-PID``, flushed to disk, then renamed over ``NAME``: a reader sees the old
file or the new one, never a part. The temporary file is created exclusively (``O_EXCL``) and
never through a symbolic link (``O_NOFOLLOW``): a link or file planted at its name is left alone
and the next free name (``...-PID.1``) is taken, so a write never lands outside its folder. A
Ctrl-C during a write is held back until the file is in place (:func:`interrupts_deferred`), so
torch's zip writer is never cut off. A writer that is killed leaves its temporary file behind;
:func:`remove_stale_temp_files` removes those whose writer is gone, and only those: the
``scratch-lstm-tmp`` marker in the name and a NAME of this program's files, never another
program's ``.x.tmp-123``. A write that fails is a :class:`WriteError` naming the file.

Files given by a user (a checkpoint, an IDX file, a run's JSON, the lock) are opened with
:func:`open_regular`: a folder, a FIFO or a device is refused at once (a FIFO would block the
command forever). What a command wrote (:func:`written`) and the folders it created
(:func:`make_folders`) are recorded, so that its last line says what it left.

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
import errno
import hashlib
import json
import os
import re
import signal
import stat
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
    """The command's SIGINT handler: note the Ctrl-C and, for the first one, raise
    ``KeyboardInterrupt`` as Python's own handler does. The note outlives an exception that a
    library's C code clears, so that :func:`raise_if_interrupted`, polled between batches, still
    stops the command. A Ctrl-C after the first is only noted: the command is already stopping,
    and a second exception would cut short what it says it kept."""
    first = not _INTERRUPTS
    _INTERRUPTS.append(signum)
    if first:
        raise KeyboardInterrupt


class Terminated(KeyboardInterrupt):
    """SIGTERM stopped the command (``kill PID``, a job scheduler, a container that stops): it is
    answered as a Ctrl-C is (what was kept, one line), with exit code 143."""


def on_terminate(signum, frame) -> None:
    """The command's SIGTERM handler: noted as a Ctrl-C is (:func:`on_interrupt`), raised as
    :class:`Terminated` the first time."""
    first = not _INTERRUPTS
    _INTERRUPTS.append(signum)
    if first:
        raise Terminated


def terminated() -> bool:
    """Whether a SIGTERM stopped the command (:func:`on_terminate`)."""
    return signal.SIGTERM in _INTERRUPTS


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` (:class:`Terminated` for a SIGTERM) if a Ctrl-C was noted
    (:func:`on_interrupt`) and swallowed."""
    if _INTERRUPTS:
        raise Terminated if terminated() else KeyboardInterrupt


def forget_interrupts() -> None:
    """Forget the Ctrl-Cs noted so far (a new command starts)."""
    _INTERRUPTS.clear()


@contextlib.contextmanager
def interrupts_deferred():
    """Hold back a Ctrl-C (SIGINT) until the block ends, then raise it as ``KeyboardInterrupt``.

    A write interrupted half-way would leave a broken temporary file, and torch's zip writer turns
    the interrupt into a ``RuntimeError``; deferred, the file is complete first. Under the
    command's handler (:func:`on_interrupt`) only a first Ctrl-C is raised, as there. Only the
    main thread can handle signals: elsewhere, and where a handler other than Python's or
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
        first = previous is signal.default_int_handler or not _INTERRUPTS
        if previous is on_interrupt:
            _INTERRUPTS.extend(caught)
        if first:
            raise KeyboardInterrupt


class WriteError(OSError):
    """A file of this program could not be written (a full disk, ``ulimit -f``, a folder that is
    gone); ``filename`` is the file, ``strerror`` the system's reason."""


class NotRegularFile(OSError):
    """A path that exists but is not a regular file (a folder, a FIFO, a device), refused by
    :func:`open_regular` before anything reads it; ``kind`` says what it is."""

    def __init__(self, path, kind: str) -> None:
        super().__init__(errno.EISDIR if kind == "a folder" else errno.EINVAL,
                         f"it is {kind}, not a regular file", str(path))
        self.kind = kind


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def file_kind(mode: int) -> str:
    """What ``st_mode`` describes, in words: ``"a regular file"``, ``"a folder"``, ``"a FIFO
    (named pipe)"``, ..."""
    for test, kind in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return kind
    return "not a file"


def open_regular(path: str | os.PathLike, mode: str = "rb"):
    """Open ``path`` (a link is followed) for reading, only if it is a regular file; else
    :class:`NotRegularFile`. It is opened without blocking and checked before any read, so a FIFO
    is refused at once instead of waiting forever for a writer. ``mode``: ``"rb"`` or ``"r"``."""
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, file_kind(st.st_mode))
        if _O_NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str | os.PathLike) -> str:
    """The text of the regular file ``path`` (:func:`open_regular`)."""
    with open_regular(path, "r") as fh:
        return fh.read()


# ---- the write rule: what a command may write -------------------------------------------------
#
# A command writes only a new file or its own earlier output, never its input, and never anything
# that exists and is not a regular file (a device, a FIFO, a folder, a link): check_target says
# so before anything is computed, for every file a command writes outside a run folder (a run
# folder's files are the run's: scratch_lstm.app.runs). Its own earlier output is told by its
# content (the marker every file of this program carries: MARKER), never by its name.

MARKER = "scratch-lstm"  # in every figure (PNG "Software") and page (<meta name="generator">)
PNG_MARKER = b"tEXtSoftware\x00" + MARKER.encode()
HTML_MARKER = f'<meta name="generator" content="{MARKER}">'
PNG_METADATA = {"Software": MARKER}  # what plots.py gives matplotlib's savefig


def _head(path: Path, n: int = 1 << 16) -> bytes:
    with open_regular(path) as fh:
        return fh.read(n)


def is_our_figure(path: Path) -> bool:
    """Whether ``path`` is a PNG this program drew (its ``Software`` text says so)."""
    head = _head(path)
    return head.startswith(b"\x89PNG") and PNG_MARKER in head


def is_our_page(path: Path) -> bool:
    """Whether ``path`` is an HTML page this program wrote (its ``generator`` meta tag)."""
    return HTML_MARKER.encode() in _head(path, 4096)


def json_with_keys(*keys: str):
    """A test of own output for a JSON file: an object (or a list of objects) holding ``keys``."""
    def ours(path: Path) -> bool:
        value = json.loads(read_text(path))
        items = value if isinstance(value, list) else [value]
        return bool(items) and all(isinstance(v, dict) and set(keys) <= set(v) for v in items)

    return ours


def text_starting_with(prefix: str):
    """A test of own output for a text file: its first characters are ``prefix``."""
    return lambda path: read_text(path).startswith(prefix)


def _refuse(text: str):
    from .errors import TrainingError

    return TrainingError(text)


def check_target(target: str | os.PathLike, ours=None, *, inputs=(), flag: str = "--out",
                 what: str = "this command's earlier output", example: str = "out.json") -> Path:
    """The write rule, checked before anything is computed: ``target`` may be written if it is new,
    or a regular file that ``ours(path)`` recognises by its content (``ours=None``: only a new
    file). Refused (:class:`~scratch_lstm.app.errors.TrainingError`, one line naming ``flag``): a
    name ending in ``/`` (a folder), anything that exists and is not a regular file (a folder, a
    device, a FIFO, a link), one of the command's ``inputs`` (the same file by ``os.stat``, however
    it is spelled), and a file ``ours`` does not recognise (``what`` names what it would be).
    Returns the target as a :class:`Path`."""
    spelled = os.fspath(target)
    path = Path(spelled)
    if spelled.endswith(("/", os.sep)) or path.name in ("", ".", ".."):
        raise _refuse(f"{flag} {spelled} names a folder; give a file name, e.g. "
                      f"{Path(spelled) / example}")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as e:
        raise _refuse(f"{flag} {spelled}: {e.strerror or e}; choose another {flag}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = file_kind(st.st_mode)
        if kind == "a folder":
            raise _refuse(f"{flag} {spelled} is a folder; give a file name, e.g. {path / example}")
        raise _refuse(f"{flag} {spelled} is {kind}, not a regular file: it is never written; "
                      f"choose another {flag}")
    for given in inputs:
        try:
            same = os.path.samefile(path, given)
        except (OSError, ValueError):
            same = False
        if same:
            raise _refuse(f"{flag} {spelled} is this command's input ({given}): an input is only "
                          f"read, never written; choose another {flag}")
    try:
        recognised = ours is not None and bool(ours(path))
    except (OSError, ValueError, UnicodeDecodeError):
        recognised = False
    if not recognised:
        raise _refuse(f"{flag} {spelled} exists and is not {what}; it is left alone: choose "
                      f"another {flag}, or move it away")
    return path


def check_new_files(folder: str | os.PathLike, names, flag: str = "--out") -> None:
    """The write rule for an experiment's files (a benchmark's results): each of ``names`` in
    ``folder`` must be new; one that exists, whatever it is, is never replaced."""
    for name in names:
        if os.path.lexists(Path(folder) / name):
            raise _refuse(f"{flag} {folder} already holds {name}, which is never replaced (an earlier "
                          f"experiment's results, or a file of yours): choose another {flag}, or move it away")


def _replaceable(path: Path) -> None:
    """Refuse (:class:`WriteError`) to rename over something that is not a regular file: the last
    guard of the write rule (:func:`check_target`), in the one place every file is written."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, file_kind(st.st_mode))


_WRITTEN: list[Path] = []  # the files this command has put in place, in order
_CREATED: list[Path] = []  # the folders it created


def written() -> list[Path]:
    """The files put in place (:func:`atomic_write_bytes`) since :func:`forget_written`, each once."""
    return list(dict.fromkeys(_WRITTEN))


def forget_written() -> None:
    """Forget the files and folders recorded so far (a new command starts)."""
    _WRITTEN.clear()
    _CREATED.clear()


def what_was_written() -> str:
    """A sentence for a command's last line: ``Nothing was written``, or the files it wrote
    (:func:`written`), each of them complete."""
    paths = written()
    if not paths:
        return "Nothing was written"
    names = ", ".join(str(p) for p in paths)
    return f"{names} {'was' if len(paths) == 1 else 'were'} written (complete)"


def make_folders(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and its missing parents, recording those created, so that a command that
    fails before writing into them can remove them (:func:`remove_created_folders`)."""
    folder = Path(folder)
    missing = []
    for f in (folder, *folder.parents):
        if f.exists() or f.is_symlink():
            break
        missing.append(f)
    folder.mkdir(parents=True, exist_ok=True)
    _CREATED.extend(reversed(missing))
    return folder


def remove_created_folders() -> None:
    """Remove the folders :func:`make_folders` created that are still empty, deepest first."""
    for folder in reversed(_CREATED):
        try:
            folder.rmdir()  # only if empty
        except OSError:
            pass
    _CREATED.clear()


TEMP_TRIES = 100  # temporary names tried for one file: NAME's, then NAME's with .1, .2, ...


def _exclusive(path, flags: int) -> int:
    """``open``'s opener for a temporary file: a new file, never an existing one or a link."""
    return os.open(path, flags | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o666)


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) the file system of ``folder`` takes (255 if unknown)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):
        return 255


def _short_temp_name(path: Path) -> str:
    """:func:`temp_name` of ``path``'s name, its NAME part cut (and told apart by a hash of the
    whole) where the temporary name would be longer than the file system allows: a legal long
    name must not fail because the temporary name adds characters."""
    base = temp_name(path.name)
    limit = _name_max(path.parent if str(path.parent) else Path(".")) - 4  # room for .1 to .99
    if len(os.fsencode(base)) <= limit:
        return base
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:8]
    keep = os.fsencode(path.name)[: max(limit - len(os.fsencode(temp_name(f"~{digest}"))), 1)]
    return temp_name(os.fsdecode(keep.decode("utf-8", "ignore").encode()) + f"~{digest}")


def _new_temp_file(path: Path):
    """``(name, open file)`` of a new temporary sibling of ``path``: :func:`temp_name` (cut short
    for a long name: :func:`_short_temp_name`), or that name with ``.1``, ``.2``, ... where
    something (a planted link, a file) holds it."""
    base = _short_temp_name(path)
    for k in range(TEMP_TRIES):
        tmp = path.with_name(base if k == 0 else f"{base}.{k}")
        try:
            return tmp, open(tmp, "wb", opener=_exclusive)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"{TEMP_TRIES} temporary names beside it are taken "
                                        f"({base} and {base}.1 to .{TEMP_TRIES - 1})", str(path))


def atomic_write_bytes(path: Path, write) -> None:
    """Write a file through a new temporary sibling (:func:`_new_temp_file`) and rename it into
    place; a Ctrl-C meanwhile comes after the rename (:func:`interrupts_deferred`). A failure is a
    :class:`WriteError` naming ``path``; the temporary file is removed. Whatever the caller
    checked before, something at ``path`` that is not a regular file (a device, a FIFO, a folder, a
    link) is never renamed over: :class:`WriteError` (:func:`_replaceable`)."""
    path = Path(path)
    with interrupts_deferred():
        tmp, placed = None, False
        try:
            _replaceable(path)
            tmp, fh = _new_temp_file(path)
            with fh:
                hooked = "during:" in os.environ.get("SCRATCH_LSTM_FAULT", "")
                write(_FaultyFile(fh, path.name) if hooked else fh)
                fh.flush()
                os.fsync(fh.fileno())
            fault_point(f"before-rename:{path.name}")
            _replaceable(path)
            os.replace(tmp, path)
            placed = True
            _WRITTEN.append(path)  # before a Ctrl-C held back meanwhile is raised
        except OSError as e:
            raise WriteError(e.errno, e.strerror or _reason(e), str(path)) from None
        finally:
            if tmp is not None and not placed:
                with contextlib.suppress(OSError):
                    tmp.unlink()  # ours: created exclusively above
    fault_point(f"after:{path.name}")


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def save_json(path: Path, obj) -> None:
    """Atomically write ``obj`` as indented, strict JSON (a NaN or inf is a ``ValueError``)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """Atomically ``torch.save`` a checkpoint dict; a failed write (a full disk) is a
    :class:`WriteError` with the system's reason."""
    def write(fh):
        try:
            torch.save(checkpoint, fh)
        except RuntimeError as e:  # torch's zip writer hides a failed write behind its own error
            if isinstance(e.__context__, OSError):
                raise e.__context__ from None
            raise

    atomic_write_bytes(path, write)


_TEMP_FILE = re.compile(rf"\.(.+)\.{TEMP_MARKER}-(\d+)(?:\.\d+)?")


def is_temp_file(name: str, names) -> bool:
    """Whether ``name`` is a temporary file of this program (:func:`temp_name`) for one of ``names``."""
    m = _TEMP_FILE.fullmatch(name)
    return bool(m) and m.group(1) in names


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


def stale_temp_files(out: Path, names) -> list[Path]:
    """The temporary files of this program (:func:`temp_name`) in ``out`` that stand for one of
    ``names`` and whose writer is gone (killed mid-write or before the rename): regular files,
    never a link."""
    stale = []
    for p in sorted(Path(out).iterdir()):
        m = _TEMP_FILE.fullmatch(p.name)
        if (m and m.group(1) in names and p.is_file() and not p.is_symlink()
                and not _writer_is_alive(int(m.group(2)))):
            stale.append(p)
    return stale


def remove_stale_temp_files(out: Path, names) -> list[str]:
    """Delete the temporary files of this program in ``out`` that stand for one of ``names`` (the
    run folder's files) and whose writer is gone (:func:`stale_temp_files`); returns their names.
    Any other file, a user's ``.draft.tmp-123`` included, is left alone."""
    removed = []
    for p in stale_temp_files(out, names):
        p.unlink()
        removed.append(p.name)
    return removed
