"""``--resume``: check that a checkpoint continues this run, restore its state, repair its folder.

A resume continues the run in ``--out`` from ``last.pt``, bit-identically on the CPU, whatever
point a kill stopped it at: ``last.pt`` carries the metrics history and the best epoch, so
``metrics.jsonl`` and ``best.pt`` are rebuilt from it. It refuses other data (by content
fingerprint), other settings, and a cosine schedule stretched to more epochs.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import torch

from .checkpoints import load_optimizer_state, state_is_finite
from .config import ADDED_SETTINGS, TrainConfig
from .data import Dataset
from .errors import TrainingError, one_line
from .files import remove_stale_temp_files, save_checkpoint, save_json
from .progress import plural
from .runs import metrics_text, summary, write_curves, write_metrics

# Settings that may differ on --resume: they do not change what is computed (the data is checked
# by its fingerprint instead of by the flags that found it).
RESUME_FREE = ("epochs", "resume", "log_every", "device", "out", "data_dir", "download", "dataset",
               "cuda_graph")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_resume(cfg: TrainConfig, ckpt: dict, ds: Dataset, out: Path, log) -> None:
    """Refuse a resume that would not continue the same run: other settings, other data, or a
    cosine schedule stretched to more epochs."""
    path = out / "last.pt"
    saved = ckpt.get("config")
    missing = [k for k in ("optimizer", "rng", "epoch", "best_test_acc") if k not in ckpt]
    if not isinstance(saved, dict) or missing:
        raise TrainingError(f"--resume: {path} lacks {', '.join(missing) or 'config'}, so it cannot be "
                            "continued (it can still be evaluated)")
    saved = {**ADDED_SETTINGS, **saved}  # a checkpoint from before a setting existed ran with its old value
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise TrainingError(f"--resume: {path} has unknown settings {unknown} (written by another "
                            "version of scratch-lstm?)")
    show = lambda v: "not set" if v is None else v  # noqa: E731
    changed = [f"{_flag(name)} {show(saved.get(name))} (now {show(getattr(cfg, name))})"
               for name in sorted(known - set(RESUME_FREE)) if saved.get(name) != getattr(cfg, name)]
    if changed:
        raise TrainingError(f"--resume: {path} was trained with other settings: {'; '.join(changed)}. "
                            "Resume with the checkpoint's values (only --epochs may change)")
    if ckpt["model_config"] != cfg.model_config():
        raise TrainingError(f"--resume: {path} holds a model_config {ckpt['model_config']} that does not "
                            f"fit its own settings ({cfg.model_config()}); it cannot be continued")
    data = ckpt.get("data")
    old = (data or {}).get("fingerprint")
    if (old and old != ds.fingerprint) or (not old and ckpt.get("dataset") != ds.name):
        then = (f"{data['name']} from {data['source']} (fingerprint {old[:12]})" if old
                else f"{ckpt.get('dataset')}")
        name, data_dir = (data or {}).get("name", ckpt.get("dataset")), saved.get("data_dir")
        fix = ("leave out --data-dir" if name == "mnist-sample" else
               f"pass the --data-dir that holds it (it was {data_dir})" if data_dir else
               f"pass --dataset {name} without --data-dir, as it was trained")
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
    try:
        model.load_state_dict(ckpt["model"], strict=True)
        load_optimizer_state(optimizer, ckpt["optimizer"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        shuffle_gen.set_state(ckpt["rng"]["shuffle"])
        if device.type == "cuda" and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise TrainingError(f"--resume: {out / 'last.pt'} cannot be restored into this run: "
                            f"{one_line(e)}") from None
    if not state_is_finite(model, optimizer):
        raise TrainingError(f"--resume: {out / 'last.pt'} holds non-finite weights or optimizer "
                            "state (a diverged run's); it cannot be continued")


def history_of(ckpt: dict, out: Path, log) -> list[dict]:
    """The metrics of the checkpoint's epochs: from the checkpoint (version 2), else from
    metrics.jsonl cut to the checkpoint's epoch (version 1)."""
    if "history" in ckpt:
        return [dict(m) for m in ckpt["history"]]
    path, epoch = out / "metrics.jsonl", ckpt["epoch"]
    try:
        history = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        log(f"note: {path} is unreadable ({one_line(e)}); the metrics log restarts at epoch {epoch + 1}")
        return []
    history = [m for m in history if isinstance(m, dict) and m.get("epoch", epoch + 1) <= epoch]
    for m in history:  # older versions logged diverged epochs with NaN/inf
        if any(isinstance(v, float) and not math.isfinite(v) for v in m.values()):
            raise TrainingError(f"--resume: {path} logs non-finite values for epoch {m.get('epoch')}, "
                                f"which {out / 'last.pt'} holds: a diverged run's; it cannot be continued")
    if len(history) != epoch:
        log(f"note: {path} has {len(history)} of the checkpoint's {plural(epoch, 'epoch')}; the log keeps those")
    return history


def restore_run_folder(out: Path, ckpt: dict, history: list[dict], log) -> bool:
    """Make the folder agree with last.pt (the truth): metrics.jsonl holds exactly its epochs, and
    best.pt exists when last.pt says its own epoch is the best (a kill may have come between).
    Returns whether metrics.jsonl had to be rewritten."""
    metrics = out / "metrics.jsonl"
    rewritten = not metrics.exists() or metrics.read_text() != metrics_text(history)
    if rewritten:
        write_metrics(out, history)
        log(f"{metrics} rewritten to the checkpoint's {plural(len(history), 'epoch')}")
    if ckpt.get("best_epoch") is not None and ckpt["best_epoch"] == ckpt["epoch"]:
        best = out / "best.pt"
        try:
            current = torch.load(best, map_location="cpu", weights_only=True).get("epoch")
        except Exception:
            current = None
        if current != ckpt["epoch"]:
            save_checkpoint(best, ckpt)
            log(f"{best} restored from last.pt (epoch {ckpt['epoch']} is the best)")
    return rewritten


def finish_without_training(cfg: TrainConfig, ckpt: dict, out: Path, ds: Dataset, device,
                            history: list[dict], best_acc: float, write, log) -> dict:
    """``--resume`` with ``--epochs`` at most the epochs done: say so, repair the folder (metrics,
    best.pt, curves, a missing summary) from last.pt, and leave config.json alone. ``write(path,
    save)`` runs ``save(path)`` and turns an ``OSError`` into a :class:`TrainingError`."""
    done, saved = ckpt["epoch"], ckpt["config"]
    more = ("a cosine run cannot grow: to train longer, start a new run with more --epochs"
            if saved.get("schedule") == "cosine" else f"pass --epochs {done + 1} or more to train more")
    log(f"nothing to train: {out / 'last.pt'} has finished {plural(done, 'epoch')} and --epochs is {cfg.epochs}; "
        f"{more}. config.json is left as it was")
    try:
        removed = remove_stale_temp_files(out)
    except OSError as e:
        raise TrainingError(f"cannot clean the run folder {out}: {e.strerror or one_line(e)}") from None
    if removed:
        log(f"removed temporary files left by a killed run: {', '.join(removed)}")
    rewritten = []
    write(out, lambda _: rewritten.append(restore_run_folder(out, ckpt, history, log)))
    if history and (rewritten[0] or not (out / "curves.png").exists()):
        write(out / "curves.png", lambda p: write_curves(out, history, saved, ds.name))
    result = summary(saved, ds, device, history, best_acc, 0.0)
    try:
        stale = json.loads((out / "summary.json").read_text()).get("epochs_done") != len(history)
    except (OSError, ValueError, AttributeError):
        stale = True
    if stale:  # missing, unreadable, or from before the last epochs (a kill came before it)
        write(out / "summary.json", lambda p: save_json(p, result))
    if history:
        log(f"test accuracy: {100 * history[-1]['test_acc']:.2f}% (best {100 * best_acc:.2f}%); "
            f"run folder: {out}")
    return result
