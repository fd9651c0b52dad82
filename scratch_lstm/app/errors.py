"""The two errors a user can fix, and how their messages are kept to one line.

The command line (:mod:`scratch_lstm.app.cli`) turns either into one ``error:`` line and exit
code 2; nothing else in the app prints a traceback for a user's mistake.
"""

from __future__ import annotations


class DataError(Exception):
    """A data problem the user can fix; the message says what and how."""


class TrainingError(Exception):
    """A run cannot go on (diverged, incompatible resume, bad folder, ...); the message says why."""


def one_line(e: BaseException, limit: int = 300) -> str:
    """``e``'s message on one line, cut to ``limit`` characters: for quoting another library's
    error inside ours."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
