"""The errors a user can fix, and how their messages are kept to one line.

The command line (:mod:`scratch_lstm.app.cli`) turns :class:`DataError` and
:class:`TrainingError` into one ``error:`` line and exit code 2, and :class:`Interrupted` (Ctrl-C)
into one line and exit code 130; nothing in the app prints a traceback for a user's mistake.
"""

from __future__ import annotations

import re


class DataError(Exception):
    """A data problem the user can fix; the message says what and how."""


class TrainingError(Exception):
    """A run cannot go on (diverged, incompatible resume, bad folder, ...); the message says why."""


class Interrupted(Exception):
    """Ctrl-C (SIGINT) stopped a command; the message says what was kept and how to go on."""


class OutputError(Exception):
    """Standard output cannot be written (a closed pipe, ``> /dev/full``): not a file of ours."""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(e: BaseException | str, limit: int = 300) -> str:
    """``e``'s message on one line, without terminal colour codes, cut at a word boundary to at
    most ``limit`` characters: for quoting another library's error inside ours."""
    text = " ".join(_ANSI.sub("", str(e)).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rsplit(" ", 1)[0] if " " in text[: limit - 3] else text[: limit - 3]
    return cut.rstrip(" ,;:") + "..."


def caused_by_interrupt(e: BaseException | None) -> bool:
    """Whether ``e`` stands for a Ctrl-C: a ``KeyboardInterrupt``, or a library's error raised
    because of one (torch turns one raised in its Python callbacks into a ``RuntimeError``)."""
    while e is not None:
        if isinstance(e, KeyboardInterrupt) or "KeyboardInterrupt" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


_NO_MEMORY = ("can't allocate memory", "out of memory", "cannot allocate memory", "bad_alloc")


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` says that memory could not be had: a ``MemoryError``, torch's
    ``OutOfMemoryError`` (a GPU's), or its CPU allocator's ``RuntimeError`` ("DefaultCPUAllocator:
    can't allocate memory"; ``std::bad_alloc`` from C++ code under a memory limit)."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError)
                                          and any(s in str(e).lower() for s in _NO_MEMORY))
