"""Training and evaluation of :class:`LSTMClassifier` on sequence-MNIST, with safe run folders.

A run folder (``--out``; without it a new ``runs/exp1``, ``runs/exp2``, ...) holds ``config.json``,
``last.pt`` and ``best.pt`` (state-dict checkpoints, loadable with ``weights_only=True``),
``metrics.jsonl`` (one strict-JSON object per finished epoch), ``curves.png`` (with matplotlib)
and ``summary.json``. The rules that keep it consistent:

- Everything (flags, data, the folder, a resumed checkpoint) is checked before anything is
  created on disk.
- Every file is replaced atomically (a temporary sibling ``.NAME.tmp-PID``, then a rename).
- ``last.pt`` is the truth. After each epoch the files are written in the order ``last.pt``,
  ``best.pt``, ``metrics.jsonl``, ``curves.png``; ``last.pt`` carries the metrics history and
  which epoch is the best, so a resume rebuilds ``metrics.jsonl`` and ``best.pt`` from it,
  whatever point a kill stopped at. Temporary files of a killed writer are removed.
- A checkpoint is written only when the epoch's losses and every weight and optimizer state are
  finite; ``best.pt`` only for a better test accuracy. A run that diverges stops and says which
  file holds its last good state.
- A checkpoint records the data it trained on (name and content fingerprint); ``resume=True``
  refuses other data or other settings, and continues bit-identically on the CPU.

Test hook (not for users): ``SCRATCH_LSTM_FAULT="POINT#N"`` kills the process with SIGKILL, as
``kill -9`` would, the N-th time (default 1) it reaches POINT, where POINT is
``before-rename:NAME`` (the temporary file of NAME is written, not yet renamed) or
``after:NAME`` (NAME was just replaced); NAME is a run-folder file such as ``last.pt``.
``tests/test_faults.py`` uses it to stop a run between any two writes.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .classifier import BACKENDS, LSTMClassifier
from .cuda_graphs import CUDAGraphStep
from .data import DATASETS, SEQUENCES, Batches, DataError, Dataset, load_dataset, pixel_permutation

CHECKPOINT_VERSION = 2  # 2: adds "data", "history", "best_epoch"; version 1 still loads
SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float64")
RUN_FILES = ("config.json", "last.pt", "best.pt", "metrics.jsonl", "curves.png", "summary.json")
MODEL_CONFIG_KEYS = ("input_size", "hidden_size", "num_classes", "num_layers", "dropout")
# Settings that may differ on --resume: they do not change what is computed (the data is checked
# by its fingerprint instead of by the flags that found it).
RESUME_FREE = ("epochs", "resume", "log_every", "device", "out", "data_dir", "download", "dataset",
               "cuda_graph")
CUDA_GRAPH = ("auto", "on", "off")


class TrainingError(Exception):
    """A run cannot go on (diverged, incompatible resume, bad folder, ...); the message says why."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class TrainConfig:
    """Everything that defines a training run (the CLI's ``train`` flags).

    The defaults train the seed configuration with the schedule of the README's results (Adam,
    lr 1e-3 with cosine decay over 10 epochs). ``out=None`` picks a new ``runs/expN``.
    """

    dataset: str = "auto"
    data_dir: str | None = None
    download: bool = False
    sequence: str = "rows"
    permutation_seed: int = 0
    backend: str = "scratch"
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    schedule: str = "cosine"
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    train_subset: int | None = None
    out: str | None = None
    resume: bool = False
    log_every: float = 10.0
    cuda_graph: str = "auto"

    def model_config(self) -> dict:
        """The arguments of :class:`LSTMClassifier` that this run trains."""
        return {
            "input_size": 28 if self.sequence == "rows" else 1,
            "hidden_size": self.hidden_size,
            "num_classes": 10,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
        }

    def validate(self) -> None:
        """Raise :class:`TrainingError` naming the flag of the first bad value."""
        def bad(name: str, expected: str):
            raise TrainingError(f"--{name.replace('_', '-')} must be {expected}, got {getattr(self, name)!r}")

        for name, allowed in (("dataset", DATASETS), ("sequence", SEQUENCES), ("backend", BACKENDS),
                              ("schedule", SCHEDULES), ("device", DEVICES), ("dtype", DTYPES),
                              ("cuda_graph", CUDA_GRAPH)):
            if getattr(self, name) not in allowed:
                bad(name, "one of " + ", ".join(allowed))
        for name in ("hidden_size", "num_layers", "epochs", "batch_size"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                bad(name, "a positive integer")
        if self.train_subset is not None and (not _is_int(self.train_subset) or self.train_subset < 1):
            bad("train_subset", "a positive integer (or None: all)")
        for name in ("seed", "permutation_seed"):
            if not _is_int(getattr(self, name)) or not 0 <= getattr(self, name) < 2**64:
                bad(name, "an integer from 0 to 2**64 - 1")
        if not (_is_number(self.dropout) and 0 <= self.dropout <= 1):
            bad("dropout", "a probability in [0, 1]")
        if not (_is_number(self.lr) and self.lr > 0):
            bad("lr", "a finite number > 0")
        for name in ("grad_clip", "log_every"):
            if not (_is_number(getattr(self, name)) and getattr(self, name) >= 0):
                bad(name, "a finite number >= 0")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda, else mps, else cpu; an explicit device that is absent is an error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise TrainingError(f"--device {name} was asked for but is not available here; use --device cpu or auto")
    return torch.device(name)


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


def _one_line(e: BaseException, limit: int = 300) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint with ``weights_only=True``, checking its structure.

    Reads version 1 (before data fingerprints) and 2. Raises :class:`TrainingError` if the file
    is missing, unreadable, or not a scratch-lstm checkpoint.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"checkpoint {path} does not exist") from None
    except Exception as e:
        raise TrainingError(f"{path} is not a readable checkpoint "
                            f"({type(e).__name__}: {_one_line(e)})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise TrainingError(f"{path} is not a scratch-lstm checkpoint (no 'model'/'model_config')")
    version = ckpt.get("version", 1)
    if not _is_int(version) or version > CHECKPOINT_VERSION:
        raise TrainingError(f"{path} has checkpoint version {version!r}; this scratch-lstm reads "
                            f"versions 1 to {CHECKPOINT_VERSION} (upgrade scratch-lstm)")
    model, config = ckpt["model"], ckpt["model_config"]
    if not isinstance(model, dict) or not all(isinstance(t, torch.Tensor) for t in model.values()):
        raise TrainingError(f"{path}: 'model' is not a state dict of tensors")
    if not isinstance(config, dict) or set(config) - set(MODEL_CONFIG_KEYS):
        unknown = sorted(set(config) - set(MODEL_CONFIG_KEYS)) if isinstance(config, dict) else config
        raise TrainingError(f"{path}: 'model_config' has unknown entries {unknown}; expected some of "
                            f"{', '.join(MODEL_CONFIG_KEYS)}")
    if ckpt.get("dtype", "float32") not in DTYPES or ckpt.get("backend", "scratch") not in BACKENDS:
        raise TrainingError(f"{path}: unknown dtype {ckpt.get('dtype')!r} or backend {ckpt.get('backend')!r}")
    history = ckpt.get("history", [])
    if not isinstance(history, list) or not all(
            isinstance(m, dict) and all(_is_number(v) for v in m.values())
            for m in history):
        raise TrainingError(f"{path}: 'history' is not a list of per-epoch metrics with finite numbers")
    for key in ("epoch", "best_epoch", "best_test_acc"):
        value = ckpt.get(key)
        if value is not None and not _is_number(value):
            raise TrainingError(f"{path}: '{key}' is {value!r}, not a number")
    return ckpt


def model_from_checkpoint(ckpt: dict, backend: str | None = None, device="cpu") -> LSTMClassifier:
    """Rebuild the classifier of a checkpoint, on any backend (all share parameter names).

    Raises :class:`TrainingError` if the weights do not fit the checkpoint's ``model_config`` or
    are not all finite (a diverged run's).
    """
    dtype = getattr(torch, ckpt.get("dtype", "float32"))
    try:
        model = LSTMClassifier(**ckpt["model_config"], backend=backend or ckpt.get("backend", "scratch"),
                               device=device, dtype=dtype)
        model.load_state_dict(ckpt["model"], strict=True)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TrainingError(f"the checkpoint's weights do not fit its model_config "
                            f"{ckpt['model_config']}: {_one_line(e)}") from None
    bad = sum(int((~torch.isfinite(p)).sum()) for p in model.parameters())
    if bad:
        total = sum(p.numel() for p in model.parameters())
        raise TrainingError(f"the checkpoint holds non-finite weights ({bad:,} of {total:,} values): "
                            "it comes from a diverged run and cannot be used")
    return model


def with_progress(batches, desc: str, *, total: int | None = None, bar: bool | None = None,
                  log=print, every: float = 10.0, status=None):
    """Iterate ``batches`` (sized, or give ``total``), showing progress: a tqdm bar on stderr when
    it is a terminal (``bar=None``), else a plain line through ``log`` every ``every`` seconds (0:
    none), so that logs stay readable. ``status()`` adds text (loss, ETA, ...) to the bar or line."""
    from tqdm import tqdm

    total = len(batches) if total is None else total
    bar = sys.stderr.isatty() if bar is None else bar
    with tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, disable=not bar,
              file=sys.stderr) as pbar:
        last = time.perf_counter()
        for k, item in enumerate(batches, 1):
            yield item
            if bar:
                if status is not None:
                    pbar.set_postfix_str(status(), refresh=False)
                pbar.update()
            elif every > 0 and time.perf_counter() - last >= every:
                last = time.perf_counter()
                log(f"  {desc} [{k}/{total}]" + (f" {status()}" if status is not None else ""))


@torch.no_grad()
def evaluate(model, batches, num_classes: int = 10) -> dict:
    """The seed's evaluation (eval mode, no grad), plus loss and a confusion matrix.

    Returns ``{"loss", "acc", "confusion"}``; ``confusion[true][pred]`` counts test samples.
    Restores the model's previous mode.
    """
    was_training = model.training
    model.eval()
    n_total, n_correct, loss_sum = 0, 0, 0.0
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for x, y in batches:
        logits = model(x.to(next(model.parameters()).dtype))
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        pred = logits.argmax(1)
        n_correct += (pred == y).sum().item()
        n_total += y.numel()
        confusion += torch.bincount(y.cpu() * num_classes + pred.cpu(),
                                    minlength=num_classes**2).view(num_classes, num_classes)
    model.train(was_training)
    return {"loss": loss_sum / max(n_total, 1), "acc": n_correct / max(n_total, 1),
            "confusion": confusion.tolist()}


def check_backend_device(backend: str, device: torch.device, flag: str = "--backend",
                         source: str | None = None) -> None:
    """:class:`TrainingError` if ``backend`` cannot run on ``device`` (triton off the GPU).

    The message names the flag (``flag``) or, when the backend came from a checkpoint,
    ``source``, and the alternative (``FLAG fused``).
    """
    if backend == "triton":
        from .triton_lstm import unavailable_reason

        reason = unavailable_reason(device, source or f"{flag} triton", f"{flag} fused")
        if reason is not None:
            raise TrainingError(reason)


def uses_cuda_graph(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether training steps replay from a CUDA graph: ``--cuda-graph auto`` does for the triton
    backend on CUDA (its per-step kernel launches are what a graph removes), ``on`` for any."""
    return device.type == "cuda" and (cfg.cuda_graph == "on" or
                                      (cfg.cuda_graph == "auto" and cfg.backend == "triton"))


def make_optimizer(model, cfg: TrainConfig, capturable: bool) -> torch.optim.Adam:
    """Adam at ``cfg.lr``; for CUDA graphs ``capturable`` with the rate in a tensor (a replay reads
    the tensor, so the schedule's changes reach it; a float would be baked into the graph)."""
    if capturable:
        lr = torch.tensor(cfg.lr, device=next(model.parameters()).device)
        return torch.optim.Adam(model.parameters(), lr=lr, capturable=True)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def set_lr(optimizer, lr: float) -> None:
    """Set the learning rate, in place where it is a tensor (a CUDA graph reads that tensor)."""
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def portable_optimizer_state(state: dict) -> dict:
    """An optimizer state dict as a plain Adam's (float lr, not capturable): loadable anywhere."""
    groups = [{**g, "lr": float(g["lr"]), "capturable": False} for g in state["param_groups"]]
    return {**state, "param_groups": groups}


def load_optimizer_state(optimizer, state: dict) -> None:
    """Load a (portable) state into ``optimizer``, keeping its own capturable flag and lr type."""
    capturable = optimizer.param_groups[0].get("capturable", False)
    lr_tensor = optimizer.param_groups[0]["lr"] if capturable else None
    groups = [{**g, "capturable": capturable, "lr": float(g["lr"])} for g in state["param_groups"]]
    optimizer.load_state_dict({**state, "param_groups": groups})
    if lr_tensor is not None:
        lr_tensor.fill_(groups[0]["lr"])
        for group in optimizer.param_groups:
            group["lr"] = lr_tensor


def train_step(model, optimizer, x, y, cfg: TrainConfig):
    """One optimisation step on a batch: forward, cross-entropy, backward, clipping, Adam.

    Returns the batch's ``(loss, logits)``, detached. This is the one place where a batch is
    stepped, so another way to step (a captured CUDA graph, another backend) can replace it.
    """
    logits = model(x)  # (B, 10)
    loss = F.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss.detach(), logits.detach()


def state_is_finite(model, optimizer) -> bool:
    """Whether every parameter and every optimizer state tensor (Adam's moments) is finite."""
    tensors = list(model.parameters())
    tensors += [t for state in optimizer.state.values() for t in state.values()
                if isinstance(t, torch.Tensor) and t.is_floating_point()]
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def next_run_folder(root: str | os.PathLike = "runs") -> Path:
    """``root/expN`` with N one more than the largest existing one (``runs/exp1`` at first)."""
    root = Path(root)
    taken = [int(m.group(1)) for p in (root.iterdir() if root.is_dir() else [])
             if (m := re.fullmatch(r"exp(\d+)", p.name))]
    return root / f"exp{max(taken, default=0) + 1}"


def check_out_folder(out: Path, flag: str = "--out") -> None:
    """Refuse, before anything is created, an output folder that is a file, lies under a file, or
    lies in a folder this process cannot write (:class:`TrainingError`)."""
    out = Path(out)
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
        raise TrainingError(f"{flag} {out}: cannot write in {existing} (permission denied); "
                            f"choose another {flag}")


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


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _data_record(ds: Dataset) -> dict:
    return {"name": ds.name, "fingerprint": ds.fingerprint, "source": ds.source, "published": ds.published}


def _dataset_line(cfg: TrainConfig, ds: Dataset) -> str:
    if ds.name == "mnist-sample" and cfg.dataset == "auto":
        return (f"data: mnist-sample from the {ds.source}: no --data-dir given, so not full MNIST "
                "(pass --data-dir DIR, or --download with internet)")
    if ds.name == "mnist-sample":
        return f"data: mnist-sample from the {ds.source}"
    verdict = ("content verified: the published files" if ds.published else
               f"content differs from the published {ds.name} files: a modified or other copy")
    return f"data: {ds.name} from {ds.source} ({verdict})"


def _plot_curves(out: Path, history: list[dict]) -> bool:
    """Write ``curves.png`` with :func:`scratch_lstm.plots.plot_curves`; False without matplotlib."""
    try:
        from .plots import plot_curves

        cfg = json.loads((out / "config.json").read_text())
        dataset = cfg["dataset"]
        if dataset == "auto" and (out / "last.pt").exists():  # the checkpoint names what auto found
            dataset = load_checkpoint(out / "last.pt").get("dataset", dataset)
        title = (f"{out}: {dataset} ({cfg['sequence']}), {cfg['backend']} backend, LSTM "
                 f"{cfg['hidden_size']} x {cfg['num_layers']} layers, lr {cfg['lr']:g} {cfg['schedule']}")
        plot_curves(history, out / "curves.png", title=title)
    except ImportError:
        return False
    return True


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _existing_run(out: Path, resume: bool) -> tuple[dict | None, list[str]]:
    """What ``out`` holds: ``(checkpoint or None, names of run files present)``; refuses a folder
    that a fresh run would overwrite, and a ``--resume`` with nothing to continue."""
    present = [name for name in RUN_FILES if (out / name).exists()] if out.is_dir() else []
    if not resume:
        if "last.pt" in present:
            raise TrainingError(f"{out} already holds a run; pass --resume to continue it, "
                                "or choose another --out")
        if present:
            raise TrainingError(f"{out} holds a run that finished no epoch ({', '.join(present)}, no "
                                "last.pt); pass --resume to start it again there, or choose another --out")
        return None, present
    if "last.pt" in present:
        return load_checkpoint(out / "last.pt"), present
    if "best.pt" in present:
        raise TrainingError(f"--resume: {out} has best.pt but no last.pt, so there is no state to "
                            "continue from; move best.pt away to start afresh there, or choose another --out")
    if not present:
        raise TrainingError(f"--resume: {out} holds no run to continue (no last.pt); check --out, or "
                            "leave out --resume to start a new run")
    return None, present


def _check_resume(cfg: TrainConfig, ckpt: dict, ds: Dataset, out: Path, log) -> None:
    """Refuse a resume that would not continue the same run: other settings, other data, or a
    cosine schedule stretched to more epochs."""
    path = out / "last.pt"
    saved = ckpt.get("config")
    missing = [k for k in ("optimizer", "rng", "epoch", "best_test_acc") if k not in ckpt]
    if not isinstance(saved, dict) or missing:
        raise TrainingError(f"--resume: {path} lacks {', '.join(missing) or 'config'}, so it cannot be "
                            "continued (it can still be evaluated)")
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


def _history(ckpt: dict, out: Path, log) -> list[dict]:
    """The metrics of the checkpoint's epochs: from the checkpoint (version 2), else from
    metrics.jsonl cut to the checkpoint's epoch (version 1)."""
    if "history" in ckpt:
        return [dict(m) for m in ckpt["history"]]
    path, epoch = out / "metrics.jsonl", ckpt["epoch"]
    try:
        history = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        log(f"note: {path} is unreadable ({_one_line(e)}); the metrics log restarts at epoch {epoch + 1}")
        return []
    history = [m for m in history if isinstance(m, dict) and m.get("epoch", epoch + 1) <= epoch]
    for m in history:  # older versions logged diverged epochs with NaN/inf
        if any(isinstance(v, float) and not math.isfinite(v) for v in m.values()):
            raise TrainingError(f"--resume: {path} logs non-finite values for epoch {m.get('epoch')}, "
                                f"which {out / 'last.pt'} holds: a diverged run's; it cannot be continued")
    if len(history) != epoch:
        log(f"note: {path} has {len(history)} of the checkpoint's {epoch} epochs; the log keeps those")
    return history


def _restore_run_folder(out: Path, ckpt: dict, history: list[dict], log) -> bool:
    """Make the folder agree with last.pt (the truth): metrics.jsonl holds exactly its epochs, and
    best.pt exists when last.pt says its own epoch is the best (a kill may have come between).
    Returns whether metrics.jsonl had to be rewritten."""
    metrics = out / "metrics.jsonl"
    rewritten = not metrics.exists() or metrics.read_text() != _metrics_text(history)
    if rewritten:
        _write_metrics(out, history)
        log(f"{metrics} rewritten to the checkpoint's {len(history)} epochs")
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


def _make_folder(out: Path, numbered: bool) -> Path:
    """Create the run folder; a numbered one is claimed atomically (the next free number)."""
    while True:
        try:
            out.mkdir(parents=True, exist_ok=not numbered)
            return out
        except FileExistsError:
            if not numbered:
                raise
            out = next_run_folder(out.parent)


def _summary(config: dict, ds: Dataset, device, history: list[dict], best_acc: float,
             invocation_seconds: float) -> dict:
    final = history[-1] if history else None
    return {
        "config": config, "dataset": ds.name, "data_source": ds.source, "data": _data_record(ds),
        "device": str(device), "device_name": _device_name(device), "torch": torch.__version__,
        "epochs_done": len(history),
        "final_test_acc": final["test_acc"] if final else None,
        "best_test_acc": best_acc if history else None,
        "total_seconds": round(sum(m["seconds"] for m in history), 1),
        "this_invocation_seconds": round(invocation_seconds, 1),
    }


def train(cfg: TrainConfig, log=print, progress: bool | None = None) -> dict:
    """Train as ``cfg`` says, writing the run folder; returns the summary dict.

    All checks (settings, device, output folder, data, a resumed checkpoint) come before anything
    is created on disk. ``progress``: tqdm bars on stderr (default: when stderr is a terminal),
    else a progress line every ``cfg.log_every`` seconds. Raises :class:`DataError` or
    :class:`TrainingError` for problems the user can fix.
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    check_backend_device(cfg.backend, device)
    dtype = getattr(torch, cfg.dtype)
    if cfg.out is None and cfg.resume:
        raise TrainingError("--resume needs --out: the run folder to continue (e.g. --out runs/exp1)")
    numbered = cfg.out is None
    out = next_run_folder() if numbered else Path(cfg.out)
    check_out_folder(out)
    ckpt, present = _existing_run(out, cfg.resume)
    ds = load_dataset(cfg.dataset, cfg.data_dir, cfg.download)
    log(_dataset_line(cfg, ds))
    if ckpt is not None:
        _check_resume(cfg, ckpt, ds, out, log)
    train_images, train_labels = ds.train_images, ds.train_labels
    if cfg.train_subset is not None:
        train_images, train_labels = train_images[: cfg.train_subset], train_labels[: cfg.train_subset]
    perm = pixel_permutation(cfg.permutation_seed) if cfg.sequence == "permuted" else None
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)
    train_batches = Batches(train_images, train_labels, cfg.batch_size, cfg.sequence, ds.stats,
                            perm, shuffle=True, generator=shuffle_gen, device=device)
    test_batches = Batches(ds.test_images, ds.test_labels, 1000, cfg.sequence, ds.stats, perm,
                           device=device)

    torch.manual_seed(cfg.seed)
    model = LSTMClassifier(**cfg.model_config(), backend=cfg.backend, device=device, dtype=dtype)
    graphed = uses_cuda_graph(cfg, device)
    optimizer = make_optimizer(model, cfg, capturable=graphed)
    start_epoch, best_acc, best_epoch, history = 0, -1.0, None, []
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"], strict=True)
            load_optimizer_state(optimizer, ckpt["optimizer"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            shuffle_gen.set_state(ckpt["rng"]["shuffle"])
            if device.type == "cuda" and "cuda" in ckpt["rng"]:
                torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise TrainingError(f"--resume: {out / 'last.pt'} cannot be restored into this run: "
                                f"{_one_line(e)}") from None
        if not state_is_finite(model, optimizer):
            raise TrainingError(f"--resume: {out / 'last.pt'} holds non-finite weights or optimizer "
                                "state (a diverged run's); it cannot be continued")
        start_epoch, best_acc, best_epoch = ckpt["epoch"], ckpt["best_test_acc"], ckpt.get("best_epoch")
        history = _history(ckpt, out, log)

    # Every check has passed: from here on, files are written.
    saved_epoch = start_epoch if ckpt is not None else None  # the epoch last.pt holds

    def kept() -> str:
        if saved_epoch is None:
            return "No checkpoint was written: no epoch finished with finite weights"
        return f"{out / 'last.pt'} keeps the last good epoch ({saved_epoch})"

    def write(path: Path, save) -> None:
        try:
            save(path)
        except OSError as e:
            raise TrainingError(f"could not write {path}: {e.strerror or _one_line(e)}; stopped. "
                                f"{kept()}") from None

    if ckpt is not None and start_epoch >= cfg.epochs:
        return _nothing_to_train(cfg, ckpt, out, ds, device, history, best_acc, write, log)
    try:
        out = _make_folder(out, numbered)
        removed = remove_stale_temp_files(out)
    except OSError as e:
        raise TrainingError(f"cannot create or clean the run folder {out}: "
                            f"{e.strerror or _one_line(e)}") from None
    cfg = replace(cfg, out=str(out))
    if removed:
        log(f"removed temporary files left by a killed run: {', '.join(removed)}")
    if ckpt is not None:
        log(f"resumed {out} after epoch {start_epoch} (last.pt)")
        write(out, lambda _: _restore_run_folder(out, ckpt, history, log))
    elif cfg.resume:
        log(f"run folder: {out} (it held {', '.join(present)} but no checkpoint: no epoch had "
            "finished, so the run starts again from epoch 1)")
    else:
        log(f"run folder: {out}")
    write(out / "config.json", lambda p: save_json(p, asdict(cfg)))

    log(f"model: LSTMClassifier({cfg.model_config()}) backend={cfg.backend} "
        f"device={device} dtype={cfg.dtype}; {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"{len(train_labels):,} training sequences of {'28x28' if cfg.sequence == 'rows' else '784x1'}; "
        f"{cfg.epochs} epochs, lr {cfg.lr:g} {cfg.schedule}")
    bar = sys.stderr.isatty() if progress is None else progress
    step_batch = lambda x, y: train_step(model, optimizer, x, y, cfg)  # noqa: E731
    if graphed:  # record a whole step once, replay it for every full batch (cuda_graphs.py)
        step_batch = CUDAGraphStep(step_batch, on_fallback=lambda why: log(f"note: {why}"))
        log("training steps replay from a CUDA graph (--cuda-graph off: run them eagerly)")
    steps_per_epoch = len(train_batches)
    total_steps = cfg.epochs * steps_per_epoch
    run_start = time.perf_counter()
    epoch_seconds: list[float] = []  # finished epochs of this invocation, for the run ETA
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0

        def status() -> str:
            elapsed = time.perf_counter() - t0
            frac = seen / len(train_labels)
            per_epoch = sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else elapsed / frac
            eta = elapsed * (1 - frac) / frac + (cfg.epochs - epoch) * per_epoch
            return f"loss {loss_sum / seen:.4f} acc {100 * correct / seen:.2f}%; run ETA {_fmt_time(eta)}"

        batches = with_progress(train_batches, f"epoch {epoch}/{cfg.epochs}", bar=bar, log=log,
                                every=cfg.log_every, status=status)
        for k, (x, y) in enumerate(batches):
            step = (epoch - 1) * steps_per_epoch + k
            if cfg.schedule == "cosine":
                set_lr(optimizer, cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
            try:
                loss, logits = step_batch(x.to(dtype), y)
            except RuntimeError as e:
                if "overflow" not in str(e):
                    raise
                raise TrainingError(f"the optimizer step overflowed {cfg.dtype} at epoch {epoch}, batch "
                                    f"{k + 1} ({_one_line(e)}): --lr {cfg.lr:g} is far too large; "
                                    f"stopped. {kept()}. Try --lr 1e-3") from None
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainingError(f"loss became {loss_value} at epoch {epoch}, batch {k + 1}; stopped. "
                                    f"{kept()}. Try a lower --lr or --grad-clip 1.0")
            loss_sum += loss_value * y.numel()
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
        train_seconds = time.perf_counter() - t0
        if not state_is_finite(model, optimizer):
            raise TrainingError(f"the weights became non-finite in epoch {epoch} (its last step; the "
                                f"losses were finite); stopped. {kept()}. Try a lower --lr or "
                                "--grad-clip 1.0")
        test = evaluate(model, with_progress(test_batches, f"test after epoch {epoch}", bar=bar,
                                             log=log, every=cfg.log_every))
        if not (math.isfinite(test["loss"]) and math.isfinite(loss_sum)):
            raise TrainingError(f"test loss became {test['loss']} after epoch {epoch}; stopped. "
                                f"{kept()}. Try a lower --lr or --grad-clip 1.0")
        seconds = time.perf_counter() - t0
        metrics = {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                   "test_loss": test["loss"], "test_acc": test["acc"], "seconds": round(seconds, 3),
                   "samples_per_s": round(seen / train_seconds, 1),
                   "lr": float(optimizer.param_groups[0]["lr"])}
        history.append(metrics)
        is_best = test["acc"] > best_acc
        if is_best:
            best_acc, best_epoch = test["acc"], epoch
        checkpoint = {
            "version": CHECKPOINT_VERSION, "model": model.state_dict(),
            "optimizer": portable_optimizer_state(optimizer.state_dict()), "epoch": epoch,
            "config": asdict(cfg),
            "model_config": cfg.model_config(), "backend": cfg.backend, "dtype": cfg.dtype,
            "dataset": ds.name, "data": _data_record(ds), "sequence": cfg.sequence,
            "permutation_seed": cfg.permutation_seed, "best_test_acc": best_acc,
            "best_epoch": best_epoch, "history": history,
            "rng": {"torch": torch.get_rng_state(), "shuffle": shuffle_gen.get_state(),
                    **({"cuda": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
        }
        write(out / "last.pt", lambda p: save_checkpoint(p, checkpoint))
        saved_epoch = epoch
        if is_best:
            write(out / "best.pt", lambda p: save_checkpoint(p, checkpoint))
        write(out / "metrics.jsonl", lambda p: _write_metrics(out, history))
        write(out / "curves.png", lambda p: _plot_curves(out, history))
        epoch_seconds.append(seconds)
        eta = (cfg.epochs - epoch) * sum(epoch_seconds) / len(epoch_seconds)
        log(f"epoch {epoch}/{cfg.epochs}: train loss {metrics['train_loss']:.4f} "
            f"acc {100 * metrics['train_acc']:.2f}% | test loss {test['loss']:.4f} "
            f"acc {100 * test['acc']:.2f}% | {seconds:.1f} s, {metrics['samples_per_s']:.0f} samples/s"
            + (f"; run ETA {_fmt_time(eta)}" if epoch < cfg.epochs else ""))

    summary = _summary(asdict(cfg), ds, device, history, best_acc, time.perf_counter() - run_start)
    write(out / "summary.json", lambda p: save_json(p, summary))
    final = history[-1]
    log(f"test accuracy: {100 * final['test_acc']:.2f}% (best {100 * best_acc:.2f}%); run folder: {out}")
    return summary


def _nothing_to_train(cfg: TrainConfig, ckpt: dict, out: Path, ds: Dataset, device,
                      history: list[dict], best_acc: float, write, log) -> dict:
    """``--resume`` with ``--epochs`` at most the epochs done: say so, repair the folder (metrics,
    best.pt, curves, a missing summary) from last.pt, and leave config.json alone."""
    done, saved = ckpt["epoch"], ckpt["config"]
    more = ("a cosine run cannot grow: to train longer, start a new run with more --epochs"
            if saved.get("schedule") == "cosine" else f"pass --epochs {done + 1} or more to train more")
    log(f"nothing to train: {out / 'last.pt'} has finished {done} epochs and --epochs is {cfg.epochs}; "
        f"{more}. config.json is left as it was")
    try:
        removed = remove_stale_temp_files(out)
    except OSError as e:
        raise TrainingError(f"cannot clean the run folder {out}: {e.strerror or _one_line(e)}") from None
    if removed:
        log(f"removed temporary files left by a killed run: {', '.join(removed)}")
    rewritten = []
    write(out, lambda _: rewritten.append(_restore_run_folder(out, ckpt, history, log)))
    if history and (rewritten[0] or not (out / "curves.png").exists()):
        write(out / "curves.png", lambda p: _plot_curves(out, history))
    summary = _summary(saved, ds, device, history, best_acc, 0.0)
    try:
        stale = json.loads((out / "summary.json").read_text()).get("epochs_done") != len(history)
    except (OSError, ValueError, AttributeError):
        stale = True
    if stale:  # missing, unreadable, or from before the last epochs (a kill came before it)
        write(out / "summary.json", lambda p: save_json(p, summary))
    if history:
        log(f"test accuracy: {100 * history[-1]['test_acc']:.2f}% (best {100 * best_acc:.2f}%); "
            f"run folder: {out}")
    return summary


def _metrics_text(history: list[dict]) -> str:
    """metrics.jsonl's content: one strict-JSON object per finished epoch."""
    return "".join(json.dumps(m, allow_nan=False) + "\n" for m in history)


def _write_metrics(out: Path, history: list[dict]) -> None:
    """Atomically rewrite metrics.jsonl."""
    atomic_write_bytes(out / "metrics.jsonl", lambda fh: fh.write(_metrics_text(history).encode()))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        import platform

        return platform.processor() or platform.machine()
    return device.type


__all__ = ["TrainConfig", "TrainingError", "DataError", "train", "train_step", "evaluate",
           "check_backend_device", "uses_cuda_graph", "make_optimizer", "set_lr",
           "portable_optimizer_state", "load_optimizer_state",
           "load_checkpoint", "model_from_checkpoint", "resolve_device", "save_checkpoint",
           "save_json", "atomic_write_bytes", "state_is_finite", "with_progress", "next_run_folder",
           "check_out_folder", "remove_stale_temp_files"]
