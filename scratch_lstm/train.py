"""Training and evaluation of :class:`LSTMClassifier` on sequence-MNIST, with safe run folders.

A run folder (``--out``) holds ``config.json``, ``metrics.jsonl`` (one JSON object per epoch),
``last.pt`` and ``best.pt`` (state-dict checkpoints, loadable with ``weights_only=True``),
``summary.json`` and ``curves.png`` (with matplotlib). Files are replaced atomically, so a crash
never leaves a half-written one; a run resumed with ``resume=True`` continues bit-identically.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from .classifier import LSTMClassifier
from .data import Batches, DataError, Dataset, load_dataset, pixel_permutation

CHECKPOINT_VERSION = 1


class TrainingError(Exception):
    """A run cannot go on (diverged, incompatible resume, ...); the message says why."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (the CLI's ``train`` flags)."""

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
    schedule: str = "constant"
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    train_subset: int | None = None
    out: str = "runs/latest"
    resume: bool = False
    log_every: float = 10.0

    def model_config(self) -> dict:
        """The arguments of :class:`LSTMClassifier` that this run trains."""
        return {
            "input_size": 28 if self.sequence == "rows" else 1,
            "hidden_size": self.hidden_size,
            "num_classes": 10,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
        }


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda, else mps, else cpu; an explicit device that is absent is an error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise TrainingError(f"--device {name} was asked for but is not available here; use --device cpu or auto")
    return torch.device(name)


def atomic_write_bytes(path: Path, write) -> None:
    """Write a file through a temporary sibling and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_json(path: Path, obj) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(path, lambda fh: fh.write((json.dumps(obj, indent=2) + "\n").encode()))


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """Atomically ``torch.save`` a checkpoint dict."""
    atomic_write_bytes(path, lambda fh: torch.save(checkpoint, fh))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint with ``weights_only=True``; :class:`TrainingError` if it is not one."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"checkpoint {path} does not exist") from None
    except Exception as e:
        raise TrainingError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise TrainingError(f"{path} is not a scratch-lstm checkpoint (no 'model'/'model_config')")
    return ckpt


def model_from_checkpoint(ckpt: dict, backend: str | None = None, device="cpu") -> LSTMClassifier:
    """Rebuild the classifier of a checkpoint, on any backend (all share parameter names)."""
    dtype = getattr(torch, ckpt.get("dtype", "float32"))
    model = LSTMClassifier(**ckpt["model_config"], backend=backend or ckpt.get("backend", "scratch"),
                           device=device, dtype=dtype)
    model.load_state_dict(ckpt["model"], strict=True)
    return model


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


def _write_metrics(out: Path, history: list[dict]) -> None:
    """Atomically rewrite metrics.jsonl: one JSON object per finished epoch."""
    text = "".join(json.dumps(m) + "\n" for m in history)
    atomic_write_bytes(out / "metrics.jsonl", lambda fh: fh.write(text.encode()))


def _dataset_line(cfg: TrainConfig, ds: Dataset) -> str:
    if ds.name == "mnist-sample" and cfg.dataset == "auto":
        return (f"data: full MNIST not found (give --data-dir DIR, or --download with internet); "
                f"training on the {ds.source}")
    return f"data: {ds.name} from {ds.source}"


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


def train(cfg: TrainConfig, log=print) -> dict:
    """Train as ``cfg`` says, writing the run folder; returns the summary dict.

    Raises :class:`DataError` or :class:`TrainingError` for problems the user can fix.
    """
    out = Path(cfg.out)
    device = resolve_device(cfg.device)
    dtype = {"float32": torch.float32, "float64": torch.float64}[cfg.dtype]
    ckpt = None
    if cfg.resume:
        ckpt = load_checkpoint(out / "last.pt")
        saved = ckpt["config"]
        changed = [f.name for f in fields(TrainConfig)
                   if f.name not in ("epochs", "resume", "log_every", "device", "out", "data_dir",
                                     "download")
                   and saved.get(f.name) != getattr(cfg, f.name)]
        if changed:
            raise TrainingError(
                f"--resume: {out / 'last.pt'} was trained with other settings ({', '.join(changed)}); "
                "resume with the same flags (only --epochs may grow)")
    elif any((out / name).exists() for name in ("last.pt", "metrics.jsonl")):
        raise TrainingError(f"{out} already holds a run; pass --resume to continue it, "
                            "or choose another --out")

    ds = load_dataset(cfg.dataset, cfg.data_dir, cfg.download)
    log(_dataset_line(cfg, ds))
    out.mkdir(parents=True, exist_ok=True)
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
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, best_acc, history = 0, -1.0, []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"], strict=True)
        optimizer.load_state_dict(ckpt["optimizer"])
        start_epoch, best_acc = ckpt["epoch"], ckpt["best_test_acc"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        shuffle_gen.set_state(ckpt["rng"]["shuffle"])
        if device.type == "cuda" and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
        history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                   if line.strip()][:start_epoch]
        _write_metrics(out, history)
        log(f"resumed from {out / 'last.pt'} after epoch {start_epoch}")
    save_json(out / "config.json", asdict(cfg))

    log(f"model: LSTMClassifier({cfg.model_config()}) backend={cfg.backend} "
        f"device={device} dtype={cfg.dtype}; {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"{len(train_labels):,} training sequences of {'28x28' if cfg.sequence == 'rows' else '784x1'}")
    steps_per_epoch = len(train_batches)
    total_steps = cfg.epochs * steps_per_epoch
    run_start = time.perf_counter()
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        model.train()
        t0 = last_log = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        for k, (x, y) in enumerate(train_batches):
            step = (epoch - 1) * steps_per_epoch + k
            if cfg.schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            logits = model(x.to(dtype))
            loss = F.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss.item()} at epoch {epoch}, batch {k + 1}; stopped. "
                    f"{out / 'last.pt'} keeps the last good epoch ({epoch - 1}). Try a lower --lr "
                    "or --grad-clip 1.0")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            loss_sum += loss.item() * y.numel()
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
            now = time.perf_counter()
            if cfg.log_every > 0 and now - last_log >= cfg.log_every:
                last_log = now
                rate = seen / (now - t0)
                eta = (len(train_labels) - seen) / rate
                log(f"  epoch {epoch}/{cfg.epochs} [{k + 1}/{steps_per_epoch}] loss {loss_sum / seen:.4f} "
                    f"acc {100 * correct / seen:.2f}% {rate:.0f} samples/s epoch ETA {_fmt_time(eta)}")
        train_seconds = time.perf_counter() - t0
        test = evaluate(model, test_batches)
        seconds = time.perf_counter() - t0
        metrics = {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                   "test_loss": test["loss"], "test_acc": test["acc"], "seconds": round(seconds, 3),
                   "samples_per_s": round(seen / train_seconds, 1),
                   "lr": optimizer.param_groups[0]["lr"]}
        history.append(metrics)
        _write_metrics(out, history)
        checkpoint = {
            "version": CHECKPOINT_VERSION, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "epoch": epoch, "config": asdict(cfg),
            "model_config": cfg.model_config(), "backend": cfg.backend, "dtype": cfg.dtype,
            "dataset": ds.name, "sequence": cfg.sequence, "permutation_seed": cfg.permutation_seed,
            "best_test_acc": max(best_acc, test["acc"]),
            "rng": {"torch": torch.get_rng_state(), "shuffle": shuffle_gen.get_state(),
                    **({"cuda": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
        }
        if test["acc"] > best_acc:
            best_acc = test["acc"]
            save_checkpoint(out / "best.pt", checkpoint)
        save_checkpoint(out / "last.pt", checkpoint)
        _plot_curves(out, history)
        log(f"epoch {epoch}/{cfg.epochs}: train loss {metrics['train_loss']:.4f} "
            f"acc {100 * metrics['train_acc']:.2f}% | test loss {test['loss']:.4f} "
            f"acc {100 * test['acc']:.2f}% | {seconds:.1f} s, {metrics['samples_per_s']:.0f} samples/s")

    final = history[-1] if history else None
    summary = {
        "config": asdict(cfg), "dataset": ds.name, "data_source": ds.source,
        "device": str(device), "device_name": _device_name(device), "torch": torch.__version__,
        "epochs_done": len(history),
        "final_test_acc": final["test_acc"] if final else None,
        "best_test_acc": best_acc if history else None,
        "total_seconds": round(sum(m["seconds"] for m in history), 1),
        "this_invocation_seconds": round(time.perf_counter() - run_start, 1),
    }
    save_json(out / "summary.json", summary)
    if final:
        log(f"test accuracy: {100 * final['test_acc']:.2f}% (best {100 * best_acc:.2f}%); "
            f"run folder: {out}")
    return summary


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        import platform

        return platform.processor() or platform.machine()
    return device.type


__all__ = ["TrainConfig", "TrainingError", "DataError", "train", "evaluate", "load_checkpoint",
           "model_from_checkpoint", "resolve_device", "save_checkpoint", "save_json",
           "atomic_write_bytes"]
