"""Progress while a loop runs: a tqdm bar on a terminal, plain lines in a log."""

from __future__ import annotations

import sys
import time

from .files import raise_if_interrupted


def with_progress(batches, desc: str, *, total: int | None = None, bar: bool | None = None,
                  log=print, every: float = 10.0, status=None):
    """Iterate ``batches`` (sized, or give ``total``), showing progress: a tqdm bar on stderr when
    it is a terminal (``bar=None``), else a plain line through ``log`` every ``every`` seconds (0:
    none), so that logs stay readable. ``status()`` adds text (loss, ETA, ...) to the bar or line.
    Before each item, a Ctrl-C noted but swallowed on the way raises ``KeyboardInterrupt``
    (:func:`~scratch_lstm.app.files.raise_if_interrupted`)."""
    from tqdm import tqdm

    total = len(batches) if total is None else total
    bar = sys.stderr.isatty() if bar is None else bar
    with tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, disable=not bar,
              file=sys.stderr) as pbar:
        last = time.perf_counter()
        for k, item in enumerate(batches, 1):
            raise_if_interrupted()  # a Ctrl-C that a library swallowed still stops the loop
            yield item
            if bar:
                if status is not None:
                    pbar.set_postfix_str(status(), refresh=False)
                pbar.update()
            elif every > 0 and time.perf_counter() - last >= every:
                last = time.perf_counter()
                log(f"  {desc} [{k}/{total}]" + (f" {status()}" if status is not None else ""))


def fmt_time(seconds: float) -> str:
    """``H:MM:SS``."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def plural(n: int, word: str) -> str:
    """``"1 epoch"``, ``"2 epochs"``: a count with its noun."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")
