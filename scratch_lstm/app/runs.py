"""Run folders: where a run goes, what it holds, and the files beside its checkpoints.

A run folder (``--out``; without it a new ``runs/exp1``, ``runs/exp2``, ...) holds
``config.json``, ``last.pt`` and ``best.pt`` (:mod:`~scratch_lstm.app.checkpoints`),
``metrics.jsonl`` (one strict-JSON object per finished epoch), ``curves.png``, ``summary.json``
and ``snapshots.pt`` (the weights of every epoch, in float16, for the explorer's epoch slider:
:mod:`~scratch_lstm.app.snapshots`). The rules that keep it consistent:

- Everything (flags, data, the folder, a resumed checkpoint) is checked before anything is
  created on disk. A run goes into a new or empty folder, or its own: never a file system's root
  or a folder of other files (:func:`check_run_folder`).
- One process writes a folder at a time: it holds the folder's lock (:mod:`~scratch_lstm.app.lock`).
- Every file is replaced atomically (:mod:`~scratch_lstm.app.files`); the temporary files of a
  killed writer are removed, and no other file.
- A figure never stops a run: one that cannot be drawn is a warning line.
- ``last.pt`` is the truth. After each epoch the files are written in the order ``last.pt``,
  ``snapshots.pt``, ``best.pt``, ``metrics.jsonl``, ``curves.png``; ``last.pt`` carries the metrics history and
  which epoch is the best, so a resume rebuilds ``metrics.jsonl`` and ``best.pt`` from it
  (:mod:`~scratch_lstm.app.resume`), whatever point a kill stopped at.
- A checkpoint is written only when the epoch's losses and every weight and optimizer state are
  finite; ``best.pt`` only for a better test accuracy.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import torch

from .config import TrainConfig
from .data import Dataset
from .errors import TrainingError, one_line
from .files import atomic_write_bytes, is_temp_file, read_text, remove_stale_temp_files
from .plots import plain_text, plot_curves

RUN_FILES = ("config.json", "last.pt", "best.pt", "metrics.jsonl", "curves.png", "summary.json", "snapshots.pt")


def next_run_folder(root: str | os.PathLike = "runs") -> Path:
    """``root/expN`` with N one more than the largest existing one (``runs/exp1`` at first)."""
    root = Path(root)
    taken = [int(m.group(1)) for p in (root.iterdir() if root.is_dir() else [])
             if (m := re.fullmatch(r"exp(\d+)", p.name))]
    return root / f"exp{max(taken, default=0) + 1}"


def check_out_folder(out: Path, flag: str = "--out") -> None:
    """Refuse, before anything is created, an output folder that is a file, a link to nothing, lies
    under a file, or lies in a folder this process cannot write (a read-only file system, or no
    permission: :class:`TrainingError` says which)."""
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise TrainingError(f"{flag} {out} is a symbolic link to {os.readlink(out)}, which does not "
                            f"exist; create that folder, or choose another {flag}")
    if out.exists():
        if not out.is_dir():
            raise TrainingError(f"{flag} {out} is a file, not a folder; choose another {flag}")
        existing = out
    else:
        existing = out.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise TrainingError(f"{flag} {out} lies under {existing}, which is a file, not a folder; "
                                f"choose another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "on a read-only file system" if _read_only(existing) else "permission denied"
        raise TrainingError(f"{flag} {out}: cannot write in {existing} ({why}); choose another {flag}")


def _read_only(folder: Path) -> bool:
    """Whether ``folder`` lies on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs (Windows)
        return False


def foreign_entries(out: Path) -> list[str]:
    """The names in the folder ``out`` that are not a run's: neither a run file (:data:`RUN_FILES`),
    nor its lock, nor a temporary file of this program for one of them."""
    from .lock import LOCK_FILE

    ours = set(RUN_FILES) | {LOCK_FILE}
    return sorted(p.name for p in out.iterdir()
                  if p.name not in ours and not is_run_temp_file(p.name))


# The settings every version of scratch-lstm has written in a run's config.json: what tells a run's
# config.json from another program's file of that name.
RUN_MARKER_SETTINGS = ("dataset", "sequence", "hidden_size", "num_layers", "epochs", "batch_size", "lr",
                       "seed", "backend")


def is_run_config(settings) -> bool:
    """Whether ``settings`` (a parsed config.json) is a run's: an object holding
    :data:`RUN_MARKER_SETTINGS` (whether each is valid, and what else it holds, a resume checks:
    :func:`scratch_lstm.app.resume.run_settings`)."""
    return isinstance(settings, dict) and set(RUN_MARKER_SETTINGS) <= set(settings)


def _config_state(out: Path) -> str:
    """What ``out``'s config.json is: ``"run"`` (:func:`is_run_config`), ``"damaged"`` (not a JSON
    object: a run file cut short or changed, which no other program could use either),
    ``"other"`` (another program's JSON object) or ``"none"``."""
    try:
        settings = json.loads(read_text(out / "config.json"))
    except FileNotFoundError:
        return "none"
    except (OSError, ValueError, UnicodeDecodeError):
        return "damaged"
    if not isinstance(settings, dict):
        return "damaged"
    return "run" if is_run_config(settings) else "other"


def holds_a_run(out: Path) -> bool:
    """Whether the folder ``out`` holds a run, told by content, not by names: a last.pt (which a
    resume loads and checks), or a config.json with a run's settings (:func:`is_run_config`). A
    user's ``config.json`` (``{"name": "my web app"}``), ``summary.json`` or ``metrics.jsonl``
    makes no run."""
    return (out / "last.pt").exists() or _config_state(out) == "run"


def not_a_runs(out: Path) -> list[str]:
    """The names in the folder ``out`` a run may not go beside: none in a folder that holds a run
    with a finished epoch (a last.pt: its own files, and whatever a user keeps there, which a
    resume never touches); in one whose run finished no epoch (a run's config.json only, which a
    resume starts again from epoch 1, as a new run), every entry that is not a run's (a copied
    config.json among a project's files makes no run folder of the project); else every entry
    that is not a run's temporary file or lock, a run file's name included (but a damaged
    config.json, which the run then replaces)."""
    if (out / "last.pt").exists():
        return []
    if holds_a_run(out):
        return foreign_entries(out)
    damaged = {"config.json"} if _config_state(out) == "damaged" else set()
    return sorted(set(foreign_entries(out)) | {n for n in RUN_FILES if os.path.lexists(out / n)} - damaged)


def _refuse_foreign(out: Path, others: list[str]) -> TrainingError:
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return TrainingError(f"--out {out} holds files that are not a run's ({shown}): a run goes into a "
                         "new or empty folder, or its own; choose another --out")


def check_run_folder(out: Path) -> None:
    """Refuse (:class:`TrainingError`) a run folder that is a file system's root, or an existing
    folder that holds files other than a run's and no run (:func:`not_a_runs`): a run goes into a
    new or empty folder, or its own, never among other files (``--out /`` or ``--out ~`` would
    write beside them). Files with a run file's name that are not a run's are other files too."""
    resolved = Path(out).resolve()
    if resolved == Path(resolved.anchor):
        raise TrainingError(f"--out {out} is the root of a file system: a run goes into a folder of its "
                            "own; choose another --out (e.g. runs/exp1)")
    if not resolved.is_dir():
        return
    others = not_a_runs(resolved)
    if others:
        raise _refuse_foreign(out, others)


def make_folder(out: Path, numbered: bool) -> Path:
    """Create the run folder; a numbered one is claimed atomically (the next free number)."""
    while True:
        try:
            out.mkdir(parents=True, exist_ok=not numbered)
            return out
        except FileExistsError:
            if not numbered:
                raise
            out = next_run_folder(out.parent)


def existing_run(out: Path, resume: bool) -> tuple[bool, list[str]]:
    """What ``out`` holds: ``(whether it has a last.pt to resume, names of run files present)``.
    Refuses a folder that a fresh run would overwrite, and a ``--resume`` with nothing to
    continue."""
    present = [name for name in RUN_FILES if (out / name).exists()] if out.is_dir() else []
    others = not_a_runs(out) if present else []
    if others:  # a user's config.json or summary.json: not a run's, whatever its name
        raise _refuse_foreign(out, others)
    if not resume:
        if "last.pt" in present:
            raise TrainingError(f"{out} already holds a run; pass --resume to continue it, "
                                "or choose another --out")
        if present:
            raise TrainingError(f"{out} holds a run that finished no epoch ({', '.join(present)}, no "
                                "last.pt); pass --resume to start it again there, or choose another --out")
        return False, present
    if "last.pt" in present:
        return True, present
    if "best.pt" in present:
        raise TrainingError(f"--resume: {out} has best.pt but no last.pt, so there is no state to "
                            "continue from; move best.pt away to start afresh there, or choose another --out")
    if not out.is_dir():
        raise TrainingError(f"--resume: {out} holds no run to continue (no last.pt); check --out, or "
                            "leave out --resume to start a new run")
    return False, present  # no epoch had finished there: the run starts again from epoch 1


def folder_state(out: Path) -> tuple:
    """What identifies the run files in ``out`` now (name, inode, size, modification time): two
    equal states mean nothing was written in between."""
    state = []
    for name in RUN_FILES:
        try:
            st = (out / name).stat()
        except OSError:
            continue
        state.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(state)


def is_run_temp_file(name: str) -> bool:
    """Whether ``name`` is a temporary file of this program for one of the run files."""
    return is_temp_file(name, RUN_FILES)


def remove_stale_run_temp_files(out: Path) -> list[str]:
    """Remove the temporary files a killed writer left in ``out`` (only this program's, for the run
    folder's files: :func:`scratch_lstm.app.files.remove_stale_temp_files`)."""
    return remove_stale_temp_files(out, RUN_FILES)


def check_out_is_not_data(out: Path, data_dir: str | None, ds: Dataset, flag: str = "--out") -> None:
    """Refuse an output folder that is the data's folder (``--data-dir`` or the folder the IDX
    files were read from): data is only read, never written beside."""
    folders = [Path(data_dir)] if data_dir else []
    if Path(ds.source).is_dir():
        folders.append(Path(ds.source))
    target = Path(out).resolve()
    for folder in folders:
        if folder.resolve() == target:
            raise TrainingError(f"{flag} {out} is the data folder {folder}: the data is only read, and "
                                f"the run's files do not go beside it; choose another {flag}")


def metrics_text(history: list[dict]) -> str:
    """metrics.jsonl's content: one strict-JSON object per finished epoch."""
    return "".join(json.dumps(m, allow_nan=False) + "\n" for m in history)


def write_metrics(out: Path, history: list[dict]) -> None:
    """Atomically rewrite metrics.jsonl."""
    atomic_write_bytes(out / "metrics.jsonl", lambda fh: fh.write(metrics_text(history).encode()))


def write_curves(out: Path, history: list[dict], cfg: TrainConfig | dict, dataset: str) -> Path:
    """Draw ``curves.png`` of ``history`` (:func:`scratch_lstm.app.plots.plot_curves`), titled
    with the run's settings ``cfg`` (a config or its dict) and the data it trains on, as plain
    text (a ``$`` in the folder's name is a dollar sign); returns its path."""
    c = cfg if isinstance(cfg, dict) else vars(cfg)
    title = (f"{plain_text(str(out))}: {dataset} ({c['sequence']}), {c['backend']} backend, LSTM "
             f"{c['hidden_size']} x {c['num_layers']} layers, lr {c['lr']:g} {c['schedule']}")
    return plot_curves(history, out / "curves.png", title=title)


def draw_curves(out: Path, history: list[dict], cfg: TrainConfig | dict, dataset: str, log) -> None:
    """:func:`write_curves`, where a figure that cannot be drawn or written is one warning line
    through ``log``: a figure never stops a run."""
    try:
        write_curves(out, history, cfg, dataset)
    except Exception as e:
        reason = (e.strerror or one_line(e)) if isinstance(e, OSError) else f"{type(e).__name__}: {one_line(e, 160)}"
        log(f"warning: {out / 'curves.png'} was not drawn ({reason}); the run goes on without it")


def summary(config: dict, ds: Dataset, device, history: list[dict], best_acc: float,
            invocation_seconds: float) -> dict:
    """summary.json's content: the settings, the data, where it ran, and the results."""
    final = history[-1] if history else None
    return {
        "config": config, "dataset": ds.name, "data_source": ds.source, "data": ds.record(),
        "device": str(device), "device_name": device_name(device), "torch": torch.__version__,
        "epochs_done": len(history),
        "final_test_acc": final["test_acc"] if final else None,
        "best_test_acc": best_acc if history else None,
        "total_seconds": round(sum(m["seconds"] for m in history), 1),
        "this_invocation_seconds": round(invocation_seconds, 1),
    }


def device_name(device: torch.device) -> str:
    """The GPU's name, the CPU's, or the device type."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return platform.processor() or platform.machine()
    return device.type
