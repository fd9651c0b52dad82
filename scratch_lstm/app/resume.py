"""``--resume``: take the run's settings, check that a checkpoint continues the run, restore its
state, repair its folder.

A resume continues the run in ``--out`` from ``last.pt``, bit-identically on the CPU, whatever
point a kill stopped it at: ``last.pt`` carries the metrics history and the best epoch, so
``metrics.jsonl`` and ``best.pt`` are rebuilt from it. The run's settings come from the run
(``last.pt``; in a folder where no epoch finished, ``config.json``, or the complete temporary
file a kill before its rename left): a flag given on the command line must agree with them,
except the :data:`RESUME_FREE` ones (this module is the one place that says which), and
``--epochs`` may only grow a constant schedule. It refuses other data (by content fingerprint),
and a folder whose settings cannot be read unless the flags to start it again are given: a
resume never trains a default model in place of the run it names.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields, replace
from pathlib import Path

import torch

from .checkpoints import (
    check_metrics,
    check_optimizer_fits,
    load_checkpoint,
    load_optimizer_state,
    state_is_finite,
)
from .config import TrainConfig
from .data import Dataset
from .distributed import RECORD_KEYS
from .errors import TrainingError, one_line
from .files import open_regular, read_text, save_checkpoint, save_json, stale_temp_files
from .progress import plural
from .runs import draw_curves, metrics_text, remove_stale_run_temp_files, summary, write_metrics

# Settings that may differ on --resume: they do not change what is computed (the data is checked
# by its fingerprint instead of by the flags that found it). Every message and help text that says
# which flags a resume may change reads them from here (free_flags).
RESUME_FREE = ("epochs", "resume", "log_every", "device", "out", "data_dir", "download", "dataset",
               "cuda_graph", "threads")
# Settings of an invocation, never taken from the run: where it writes, and that it resumes.
_NEVER_TAKEN = ("out", "resume")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def free_flags() -> list[str]:
    """The flags a ``--resume`` may give with other values than the run's: :data:`RESUME_FREE`,
    less the invocation's own (``--out``, ``--resume``)."""
    return [_flag(name) for name in RESUME_FREE if name not in _NEVER_TAKEN]


def _show(value) -> str:
    return "not set" if value is None else str(value)


def check_resumable(ckpt: dict, path: Path) -> None:
    """Refuse a checkpoint that cannot be continued: without the state a resume restores, or with
    settings this version does not know."""
    saved = ckpt.get("config")
    missing = [k for k in ("optimizer", "rng", "epoch", "best_test_acc") if k not in ckpt]
    if not isinstance(saved, dict) or missing:
        raise TrainingError(f"--resume: {path} lacks {', '.join(missing) or 'config'}, so it cannot be "
                            "continued (it can still be evaluated)")
    unknown = sorted(set(saved) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise TrainingError(f"--resume: {path} has unknown settings {unknown} (written by another "
                            "version of scratch-lstm?)")
    check_config_agrees(saved, Path(path).parent / "config.json", path)


def check_config_agrees(saved: dict, config: Path, path: Path) -> None:
    """Refuse a checkpoint whose settings ``saved`` disagree with the run's ``config.json`` beside
    it (a last.pt of another run put there): every setting but the :data:`RESUME_FREE` ones must
    be the same. A config.json that is missing or cannot be read is rewritten from the checkpoint,
    so it is not compared."""
    try:
        written = json.loads(read_text(config))
    except (OSError, ValueError, UnicodeDecodeError):
        return
    if not isinstance(written, dict):
        return
    ckpt_settings, file_settings = _saved_settings(saved), _saved_settings(written)
    unknown = sorted(set(written) - set(ckpt_settings) - set(RECORD_KEYS))  # the processes' record aside
    differ = [f"{_flag(k)} {_show(file_settings[k])} in config.json, {_show(ckpt_settings[k])} in {path.name}"
              for k in ckpt_settings if k not in RESUME_FREE and file_settings[k] != ckpt_settings[k]]
    if unknown or differ:
        what = f"unknown settings {unknown}" if unknown else "; ".join(differ[:3])
        raise TrainingError(f"--resume: {path} does not belong to the run in {config.parent}: {what}. "
                            f"A resume continues the run its config.json describes: put its own "
                            f"{path.name} back, or start the other run in a folder of its own")


def _saved_settings(saved: dict) -> dict:
    """A run's saved settings, each one missing from an older version's config at its default."""
    defaults = TrainConfig()
    return {f.name: saved.get(f.name, getattr(defaults, f.name)) for f in fields(TrainConfig)}


def _given(given) -> set:
    names = {f.name for f in fields(TrainConfig)}
    return names if given is None else set(given) & names


def _take(cfg: TrainConfig, saved: dict, given: set) -> TrainConfig:
    """``cfg`` with the settings not ``given`` taken from ``saved`` (:func:`_saved_settings`)."""
    taken = {name: value for name, value in saved.items() if name not in given | set(_NEVER_TAKEN)}
    if taken.get("dataset", cfg.dataset) == "mnist-sample":  # older versions recorded a data_dir
        taken.update({k: v for k, v in (("data_dir", None), ("download", False)) if k in taken})
    return replace(cfg, **taken)


def _changed(cfg: TrainConfig, saved: dict, given: set) -> list[str]:
    """The given settings (not :data:`RESUME_FREE`) that differ from the run's: old (now new)."""
    return [f"{_flag(name)} {_show(saved[name])} (now {_show(getattr(cfg, name))})"
            for name in sorted(given - set(RESUME_FREE)) if saved[name] != getattr(cfg, name)]


def settings_from_run(cfg: TrainConfig, saved: dict, given, path: Path) -> TrainConfig:
    """``cfg`` with every setting the user did not give (``given``: the names of the flags given;
    None: all of them, as for a :class:`TrainConfig` built in code) taken from the run's ``saved``
    settings; settings an older version did not have take their defaults. A given one that
    differs from the run's is refused, naming the old and new value of each, unless it is one of
    :data:`RESUME_FREE`."""
    saved, given = _saved_settings(saved), _given(given)
    changed = _changed(cfg, saved, given)
    if changed:
        raise TrainingError(f"--resume: {path} was trained with other settings: {'; '.join(changed)}. "
                            f"Resume with the checkpoint's values; only {', '.join(free_flags())} may change "
                            "(--epochs only to grow a constant schedule; the data flags only to find "
                            "the same data elsewhere)")
    return _take(cfg, saved, given)


def _readable_settings(path: Path) -> dict:
    """The settings in ``path`` (a config.json), checked; ``ValueError`` (or ``OSError``,
    :class:`TrainingError`) if they cannot be used."""
    saved = json.loads(read_text(path))
    if not isinstance(saved, dict):
        raise ValueError(f"it holds a JSON {type(saved).__name__}, not the run's settings")
    known = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(saved) - set(known) - set(RECORD_KEYS))  # the processes' record aside
    missing = [k for k in known if k not in saved]
    if unknown:
        raise ValueError(f"unknown settings {unknown}: written by another version of scratch-lstm, or "
                         "not a run's")
    if missing:  # never filled in with defaults: a resume would train another model than the run's
        raise ValueError(f"it lacks the settings {', '.join(missing)}")
    TrainConfig(**saved).validate()
    return saved


def run_settings(out: Path) -> tuple[dict | None, Path | None, str]:
    """The settings a run wrote in ``out`` where no epoch finished: ``(settings, the file they come
    from, what was wrong)``. ``config.json`` first; where it is missing or unreadable, the newest
    complete temporary config.json that a writer killed before its rename left. ``(None, None,
    why)`` when there are none that can be read."""
    path = out / "config.json"
    candidates = [path] if path.exists() or path.is_symlink() else []
    temps = stale_temp_files(out, ("config.json",))
    candidates += sorted(temps, key=lambda p: p.stat().st_mtime_ns, reverse=True)
    problems = []
    for candidate in candidates:
        try:
            return _readable_settings(candidate), candidate, ""
        except (OSError, ValueError, TypeError, TrainingError) as e:
            problems.append(f"{candidate} is unreadable ({one_line(e, 120)})")
    return None, None, "; ".join(problems) or f"{path} does not exist"


def restart_settings(cfg: TrainConfig, out: Path, given, log) -> TrainConfig:
    """The settings of a ``--resume`` in a folder where no epoch finished (it starts again from
    epoch 1): the run's (:func:`run_settings`) for every flag not given; a given flag wins, with a
    note, since nothing is continued. Without settings that can be read, a ``--resume`` that gives
    none of the run's own flags (only :data:`RESUME_FREE` ones) is refused: it would train a
    default model in place of the run; with them, the run starts again from the flags given."""
    saved, source, problem = run_settings(out)
    given = _given(given)
    if saved is None:
        if not given - set(RESUME_FREE):
            raise TrainingError(
                f"--resume: {out} holds no settings to continue from ({problem}) and no epoch finished "
                f"there (no last.pt), so a resume would train a default model instead of the run. Start "
                f"it again there with the flags it was started with (`scratch-lstm train --out {out} "
                "--resume` and those flags), or choose another --out")
        if out.is_dir() and any(True for _ in out.iterdir()):
            log(f"note: {problem}; the run starts again from epoch 1 with the flags given")
        return cfg
    if source.name != "config.json":
        log(f"note: {out / 'config.json'} was never put in place (the run was stopped while writing "
            f"it); the run's settings come from {source.name}, the complete copy it left")
    saved = _saved_settings(saved)
    changed = _changed(cfg, saved, given)
    if changed:
        log(f"note: no epoch had finished in {out}, so the run starts again with the flags given: "
            f"{'; '.join(changed)}")
    return _take(cfg, saved, given)


def check_resume(cfg: TrainConfig, ckpt: dict, ds: Dataset, out: Path, log) -> None:
    """Refuse a resume that would not continue the same run (its settings already taken by
    :func:`settings_from_run`): a model that does not fit them, other data, or a cosine schedule
    stretched to more epochs."""
    path, saved = out / "last.pt", ckpt["config"]
    if ckpt["model_config"] != cfg.model_config():
        raise TrainingError(f"--resume: {path} holds a model_config {ckpt['model_config']} that does not "
                            f"fit its own settings ({cfg.model_config()}); it cannot be continued")
    data = ckpt.get("data")
    old = (data or {}).get("fingerprint")
    if (old and old != ds.fingerprint) or (not old and ckpt.get("dataset") != ds.name):
        then = (f"{data['name']} from {data['source']} (fingerprint {old[:12]})" if old
                else f"{ckpt.get('dataset')}")
        name, data_dir = (data or {}).get("name", ckpt.get("dataset")), saved.get("data_dir")
        if name == "mnist-sample":
            other = ([f"--dataset {cfg.dataset}"] if cfg.dataset not in ("auto", "mnist-sample") else []) + (
                ["--data-dir"] if cfg.data_dir else [])
            fix = (f"leave out {' and '.join(other)}" if other else
                   "the sample embedded in this scratch-lstm is not the one it was trained on (another "
                   "version's), so continue it with the version that trained it (here it can still be "
                   "evaluated)")
        elif data_dir:
            fix = f"pass the --data-dir that holds it (it was {data_dir})"
        else:
            fix = f"pass --dataset {name}{' without --data-dir' if cfg.data_dir else ''}, as it was trained"
        raise TrainingError(f"--resume: {path} was trained on other data: {then}; now {ds.name} from "
                            f"{ds.source} (fingerprint {ds.fingerprint[:12]}). A run continues on its "
                            f"own data: {fix}")
    if not old:
        log(f"note: {path} predates data fingerprints (checkpoint version 1): only the dataset name "
            f"({ds.name}) could be checked; its next checkpoint records the fingerprint")
    done, planned = ckpt["epoch"], saved.get("epochs")
    if cfg.epochs > done and cfg.schedule == "cosine" and cfg.epochs != planned:
        raise TrainingError(
            f"--resume: {path} decays the learning rate (cosine) to 0 over its --epochs {planned}; "
            f"--epochs {cfg.epochs} would change the rate of every remaining step, so the run would "
            f"no longer be the one that runs uninterrupted. Resume with --epochs {planned}, or start "
            f"a new run with --epochs {cfg.epochs}")


def restore_state(ckpt: dict, out: Path, model, optimizer, shuffle_gen: torch.Generator,
                  device: torch.device) -> None:
    """Load the weights, the optimizer state and the random states of ``ckpt`` into this run;
    :class:`TrainingError` if they do not fit or are not finite."""
    path = out / "last.pt"
    try:
        model.load_state_dict(ckpt["model"], strict=True)
        check_optimizer_fits(ckpt["optimizer"], model, path)
        load_optimizer_state(optimizer, ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        shuffle_gen.set_state(ckpt["rng"]["shuffle"])
        if device.type == "cuda" and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise TrainingError(f"--resume: {path} cannot be restored into this run: "
                            f"{one_line(e)}") from None
    if not state_is_finite(model, optimizer):
        raise TrainingError(f"--resume: {path} holds non-finite weights or optimizer "
                            "state (a diverged run's); it cannot be continued")


def history_of(ckpt: dict, out: Path, log) -> list[dict]:
    """The metrics of the checkpoint's epochs: from the checkpoint (version 2), else from
    metrics.jsonl cut to the checkpoint's epoch (version 1), each line checked as a checkpoint's
    history entry is (:func:`~scratch_lstm.app.checkpoints.check_metrics`), so that the next
    checkpoint holds nothing its own loader would refuse."""
    if "history" in ckpt:
        history = [dict(m) for m in ckpt["history"]]
        return history if len(history) >= ckpt["epoch"] else _with_logged_epochs(history, ckpt, out, log)
    path, epoch = out / "metrics.jsonl", ckpt["epoch"]
    try:
        lines = [(n, json.loads(line)) for n, line in enumerate(read_text(path).splitlines(), 1)
                 if line.strip()]
    except (OSError, ValueError) as e:
        log(f"note: {path} is unreadable ({one_line(e)}); the metrics log restarts at epoch {epoch + 1}")
        return []
    history, last = [], 0
    for n, m in lines:
        if isinstance(m, dict) and _is_after(m.get("epoch"), epoch):
            continue  # a later epoch than last.pt holds: a kill came between the two writes
        if isinstance(m, dict) and any(isinstance(v, float) and not math.isfinite(v) for v in m.values()):
            raise TrainingError(f"--resume: {path} logs non-finite values for epoch {m.get('epoch')}, "
                                f"which {out / 'last.pt'} holds: a diverged run's; it cannot be continued")
        try:
            check_metrics(m, f"{path} line {n}")
            if m["epoch"] <= last:
                raise TrainingError(f"{path} line {n}: epoch {m['epoch']} comes after epoch {last}")
        except TrainingError as e:
            raise TrainingError(f"--resume: {e}. Fix or remove that line (or remove {path.name}: its "
                                f"epochs are then not logged again)") from None
        history.append(m)
        last = m["epoch"]
    if len(history) != epoch:
        log(f"note: {path} has {len(history)} of the checkpoint's {plural(epoch, 'epoch')}; the log keeps those")
    return history


def _with_logged_epochs(history: list[dict], ckpt: dict, out: Path, log) -> list[dict]:
    """``history`` (a checkpoint's, with fewer entries than its epochs) with the epochs it lacks
    taken from metrics.jsonl, where a line of one of them passes :func:`check_metrics`: a resume
    never rewrites the log with fewer epochs than it holds. Lines that cannot be read are left to
    the checkpoint (they are not epochs it could keep)."""
    path, epoch, have = out / "metrics.jsonl", ckpt["epoch"], {m["epoch"] for m in history}
    try:
        lines = read_text(path).splitlines()
    except (OSError, UnicodeDecodeError):
        return history
    kept = {}
    for n, line in enumerate(lines, 1):
        try:
            m = json.loads(line)
            check_metrics(m, f"{path} line {n}")
        except (ValueError, TrainingError):
            continue
        if m["epoch"] <= epoch and m["epoch"] not in have:
            kept.setdefault(m["epoch"], m)
    if kept:
        log(f"note: {out / 'last.pt'} records {plural(len(history), 'epoch')} of its {epoch}; {path.name} "
            f"keeps epochs {', '.join(map(str, sorted(kept)))} as they were")
    return sorted(history + list(kept.values()), key=lambda m: m["epoch"])


def _is_after(value, epoch: int) -> bool:
    """Whether a metrics line's ``epoch`` is a number after ``epoch`` (a line from after last.pt)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > epoch


def restore_run_folder(out: Path, ckpt: dict, history: list[dict], log, write) -> bool:
    """Make the folder agree with last.pt (the truth): metrics.jsonl holds exactly its epochs, and
    best.pt exists when last.pt says its own epoch is the best (a kill may have come between).
    ``write(path, save)`` writes each file (a failure names that file). Returns whether
    metrics.jsonl had to be rewritten."""
    metrics = out / "metrics.jsonl"
    try:
        rewritten = read_text(metrics) != metrics_text(history)
    except (OSError, UnicodeDecodeError):
        rewritten = True
    if rewritten:
        write(metrics, lambda p: write_metrics(out, history))
        log(f"{metrics} rewritten to the checkpoint's {plural(len(history), 'epoch')}")
    if ckpt.get("best_epoch") is not None and ckpt["best_epoch"] == ckpt["epoch"]:
        best = out / "best.pt"
        try:
            with open_regular(best) as fh:
                current = torch.load(fh, map_location="cpu", weights_only=True).get("epoch")
        except Exception:
            current = None
        if current != ckpt["epoch"]:
            write(best, lambda p: save_checkpoint(p, ckpt))
            log(f"{best} restored from last.pt (epoch {ckpt['epoch']} is the best)")
    elif (out / "best.pt").exists():
        _say_if_damaged(out / "best.pt", ckpt, log)
    return rewritten


def _say_if_damaged(best: Path, ckpt: dict, log) -> None:
    """A best.pt of an earlier epoch than last.pt's cannot be rebuilt from it: one that does not
    load is left as it is, with a warning line (never in silence)."""
    try:
        load_checkpoint(best)
    except TrainingError as e:
        log(f"warning: {best} does not load ({one_line(e, 160)}); last.pt holds epoch {ckpt['epoch']}, not "
            f"the best epoch {ckpt.get('best_epoch')}, so it cannot be rebuilt: it is left as it is, and "
            "replaced once an epoch beats the best accuracy")


def finish_without_training(cfg: TrainConfig, ckpt: dict, out: Path, ds: Dataset, device,
                            history: list[dict], best_acc: float, write, log) -> dict:
    """``--resume`` with ``--epochs`` at most the epochs done: say so, repair the folder (metrics,
    best.pt, curves, a missing summary) from last.pt, and leave config.json alone. ``write(path,
    save)`` runs ``save(path)`` and turns an ``OSError`` into a :class:`TrainingError`. The caller
    holds the folder's lock."""
    done, saved = ckpt["epoch"], ckpt["config"]
    more = ("a cosine run cannot grow: to train longer, start a new run with more --epochs"
            if saved.get("schedule") == "cosine" else f"pass --epochs {done + 1} or more to train more")
    log(f"nothing to train: {out / 'last.pt'} has finished {plural(done, 'epoch')} and --epochs is {cfg.epochs}; "
        f"{more}. config.json is left as it was")
    try:
        removed = remove_stale_run_temp_files(out)
    except OSError as e:
        raise TrainingError(f"cannot clean the run folder {out}: {e.strerror or one_line(e)}") from None
    if removed:
        log(f"removed temporary files left by a killed run: {', '.join(removed)}")
    rewritten = restore_run_folder(out, ckpt, history, log, write)
    if history and (rewritten or not (out / "curves.png").exists()):
        draw_curves(out, history, saved, ds.name, log)
    result = summary(saved, ds, device, history, best_acc, 0.0)
    try:
        stale = json.loads(read_text(out / "summary.json")).get("epochs_done") != len(history)
    except (OSError, ValueError, AttributeError):
        stale = True
    if stale:  # missing, unreadable, or from before the last epochs (a kill came before it)
        write(out / "summary.json", lambda p: save_json(p, result))
    if history:
        log(f"test accuracy: {100 * history[-1]['test_acc']:.2f}% (best {100 * best_acc:.2f}%); "
            f"run folder: {out}")
    return result
