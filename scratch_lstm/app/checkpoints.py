"""Checkpoint files: what one holds, how it is read back and checked, and the model it rebuilds.

A checkpoint is a plain dict of tensors, numbers and strings (``torch.load(...,
weights_only=True)`` reads it): ``model`` (the classifier's state dict), ``model_config``,
``optimizer`` (a portable Adam state), ``epoch``, ``config`` (the run's settings), ``dataset``
and ``data`` (name and content fingerprint), ``sequence``, ``permutation_seed``, ``backend``,
``dtype``, ``best_test_acc``, ``best_epoch``, ``history`` (every finished epoch's metrics) and
``rng`` (the random states a resume needs to continue bit-identically).
"""

from __future__ import annotations

import os
from dataclasses import asdict

import torch

from ..classifier import BACKENDS, LSTMClassifier
from .config import DTYPES, MODEL_CONFIG_KEYS, TrainConfig, is_int, is_number
from .data import Dataset
from .errors import TrainingError, one_line

CHECKPOINT_VERSION = 2  # 2: adds "data", "history", "best_epoch"; version 1 still loads


def make_checkpoint(cfg: TrainConfig, model, optimizer, epoch: int, ds: Dataset, best_acc: float,
                    best_epoch: int | None, history: list[dict], shuffle_gen: torch.Generator,
                    device: torch.device) -> dict:
    """The checkpoint of a run after ``epoch``: everything :func:`load_checkpoint` checks and a
    resume restores."""
    return {
        "version": CHECKPOINT_VERSION, "model": model.state_dict(),
        "optimizer": portable_optimizer_state(optimizer.state_dict()), "epoch": epoch,
        "config": asdict(cfg),
        "model_config": cfg.model_config(), "backend": cfg.backend, "dtype": cfg.dtype,
        "dataset": ds.name, "data": ds.record(), "sequence": cfg.sequence,
        "permutation_seed": cfg.permutation_seed, "best_test_acc": best_acc,
        "best_epoch": best_epoch, "history": history,
        "rng": {"torch": torch.get_rng_state(), "shuffle": shuffle_gen.get_state(),
                **({"cuda": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
    }


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
                            f"({type(e).__name__}: {one_line(e)})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise TrainingError(f"{path} is not a scratch-lstm checkpoint (no 'model'/'model_config')")
    version = ckpt.get("version", 1)
    if not is_int(version) or version > CHECKPOINT_VERSION:
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
            isinstance(m, dict) and all(is_number(v) for v in m.values())
            for m in history):
        raise TrainingError(f"{path}: 'history' is not a list of per-epoch metrics with finite numbers")
    for key in ("epoch", "best_epoch", "best_test_acc"):
        value = ckpt.get(key)
        if value is not None and not is_number(value):
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
                            f"{ckpt['model_config']}: {one_line(e)}") from None
    bad = sum(int((~torch.isfinite(p)).sum()) for p in model.parameters())
    if bad:
        total = sum(p.numel() for p in model.parameters())
        raise TrainingError(f"the checkpoint holds non-finite weights ({bad:,} of {total:,} values): "
                            "it comes from a diverged run and cannot be used")
    return model


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


def state_is_finite(model, optimizer) -> bool:
    """Whether every parameter and every optimizer state tensor (Adam's moments) is finite: the
    condition for writing a checkpoint, and for resuming from one."""
    tensors = list(model.parameters())
    tensors += [t for state in optimizer.state.values() for t in state.values()
                if isinstance(t, torch.Tensor) and t.is_floating_point()]
    return all(bool(torch.isfinite(t).all()) for t in tensors)
