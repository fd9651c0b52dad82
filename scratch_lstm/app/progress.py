"""Progress while a loop runs: a tqdm bar on a terminal, plain lines in a log."""

from __future__ import annotations

import sys
import time

from .files import raise_if_interrupted


class Progress:
    """Progress through ``total`` steps that the caller reports one by one (:meth:`tick`): a tqdm
    bar on stderr when it is a terminal (``bar=None``), else a plain line ``  DESC [k/total]``
    through ``log`` every ``every`` seconds (0: none), so that logs stay readable. ``status()``
    adds text (loss, ETA, ...) to the bar or line. Use it as a context manager (the bar is
    removed at the end)."""

    def __init__(self, total: int, desc: str, *, bar: bool | None = None, log=print,
                 every: float = 10.0, status=None):
        from tqdm import tqdm

        self.total, self.desc, self.log, self.every, self.status = total, desc, log, every, status
        self.bar = sys.stderr.isatty() if bar is None else bar
        self.count, self.last = 0, time.perf_counter()
        self.pbar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, disable=not self.bar,
                         file=sys.stderr)

    def tick(self) -> None:
        """One more step done: the bar moves, or a line is logged if ``every`` seconds have passed
        since the last one."""
        self.count += 1
        if self.bar:
            if self.status is not None:
                self.pbar.set_postfix_str(self.status(), refresh=False)
            self.pbar.update()
        elif self.every > 0 and time.perf_counter() - self.last >= self.every:
            self.last = time.perf_counter()
            self.log(f"  {self.desc} [{self.count}/{self.total}]"
                     + (f" {self.status()}" if self.status is not None else ""))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.pbar.close()


def with_progress(batches, desc: str, *, total: int | None = None, bar: bool | None = None,
                  log=print, every: float = 10.0, status=None):
    """Iterate ``batches`` (sized, or give ``total``), showing progress as :class:`Progress` does
    (a bar on a terminal, a line every ``every`` seconds in a log). Before each item, a Ctrl-C
    noted but swallowed on the way raises ``KeyboardInterrupt``
    (:func:`~scratch_lstm.app.files.raise_if_interrupted`)."""
    total = len(batches) if total is None else total
    with Progress(total, desc, bar=bar, log=log, every=every, status=status) as progress:
        for item in batches:
            raise_if_interrupted()  # a Ctrl-C that a library swallowed still stops the loop
            yield item
            progress.tick()


def fmt_time(seconds: float) -> str:
    """``H:MM:SS``."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def plural(n: int, word: str) -> str:
    """``"1 epoch"``, ``"2 epochs"``: a count with its noun."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")
