"""Checkpoint files: what one holds, how it is read back and checked, and the model it rebuilds.

A checkpoint is a plain dict of tensors, numbers and strings (``torch.load(...,
weights_only=True)`` reads it): ``model`` (the classifier's state dict), ``model_config``,
``optimizer`` (a portable Adam state), ``epoch``, ``config`` (the run's settings), ``dataset``
and ``data`` (name and content fingerprint), ``sequence``, ``permutation_seed``, ``backend``,
``dtype``, ``best_test_acc``, ``best_epoch``, ``history`` (every finished epoch's metrics),
``rng`` (the random states a resume needs to continue bit-identically) and ``checksum`` (the sha256
of all the rest: :func:`content_checksum`). Loading verifies the checksum, so a file that changed
after it was written (a flipped bit on a disk, a damaged copy) is refused instead of loading weights
that are silently wrong; checkpoints from before it (versions 1 and 2) load without it.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import asdict, fields

import torch

from ..classifier import BACKENDS, LSTMClassifier
from .config import DTYPES, MODEL_CONFIG_KEYS, TrainConfig, is_int, is_number
from .data import DATASETS, SEQUENCES, Dataset
from .errors import TrainingError, one_line
from .files import NotRegularFile, interrupts_deferred, open_regular
from .limits import lstm_classifier_parameters

CHECKPOINT_VERSION = 3  # 2: adds "data", "history", "best_epoch"; 3: "checksum"; 1 and 2 still load
METRIC_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")  # every epoch's record


def make_checkpoint(cfg: TrainConfig, model, optimizer, epoch: int, ds: Dataset, best_acc: float,
                    best_epoch: int | None, history: list[dict], shuffle_gen: torch.Generator,
                    device: torch.device) -> dict:
    """The checkpoint of a run after ``epoch``: everything :func:`load_checkpoint` checks and a
    resume restores."""
    return seal_checkpoint({
        "version": CHECKPOINT_VERSION, "model": model.state_dict(),
        "optimizer": portable_optimizer_state(optimizer.state_dict()), "epoch": epoch,
        "config": asdict(cfg),
        "model_config": cfg.model_config(), "backend": cfg.backend, "dtype": cfg.dtype,
        "dataset": ds.name, "data": ds.record(), "sequence": cfg.sequence,
        "permutation_seed": cfg.permutation_seed, "best_test_acc": best_acc,
        "best_epoch": best_epoch, "history": history,
        "rng": {"torch": torch.get_rng_state(), "shuffle": shuffle_gen.get_state(),
                **({"cuda": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
    })


def content_checksum(ckpt: dict) -> str:
    """sha256 (hex) of everything in ``ckpt`` but its ``checksum``: every tensor's dtype, shape and
    bytes, and every other value (numbers, strings, the dicts and lists that hold them), walked in
    a fixed order, so that equal content gives equal sums however the file was written."""
    h = hashlib.sha256()

    def walk(value) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous().reshape(-1)
            h.update(f"tensor {t.dtype} {tuple(value.shape)};".encode())
            h.update(t.view(torch.uint8).numpy())  # the bytes as stored, NaN payloads included
        elif isinstance(value, dict):
            h.update(b"{")
            for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
                walk(key)
                walk(value[key])
            h.update(b"}")
        elif isinstance(value, (list, tuple)):
            h.update(b"[" if isinstance(value, list) else b"(")
            for item in value:
                walk(item)
            h.update(b"]")
        else:
            h.update(f"{type(value).__name__} {value!r};".encode())

    walk({key: value for key, value in ckpt.items() if key != "checksum"})
    return h.hexdigest()


def seal_checkpoint(ckpt: dict) -> dict:
    """``ckpt`` with its ``checksum`` (:func:`content_checksum`) set, as it is written."""
    ckpt["checksum"] = content_checksum(ckpt)
    return ckpt


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint with ``weights_only=True`` and check every field (:func:`check_checkpoint`).

    Reads versions 1 (before data fingerprints), 2 (before checksums) and 3. Raises
    :class:`TrainingError` if the file is missing, unreadable, not a scratch-lstm checkpoint, or
    holds a field of the wrong type or range (the message names the field).
    """
    try:
        with interrupts_deferred(), open_regular(path) as fh:  # torch's reader turns a Ctrl-C into its own error
            ckpt = torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"checkpoint {path} does not exist") from None
    except NotRegularFile as e:
        what = "; give its last.pt or best.pt" if e.kind == "a folder" else ", not a checkpoint file"
        raise TrainingError(f"checkpoint {path} is {e.kind}{what}") from None
    except Exception as e:
        raise TrainingError(f"{path} is not a readable checkpoint: {unreadable_reason(path, e)}") from None
    check_checkpoint(ckpt, path)
    return ckpt


def unreadable_reason(path, e: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in one line of our words."""
    try:
        with open_regular(path) as fh:
            head = fh.read(64)
    except OSError as err:
        return err.strerror or one_line(err)
    text = one_line(e, limit=10**6)  # all of it, on one line: the cause comes last
    if "Weights only load failed" in text and head.startswith(b"PK"):
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        return (f"it holds pickled Python objects{what}, not only tensors, numbers and strings; "
                "scratch-lstm never writes those and does not load them, since unpickling can run code")
    if head.lstrip()[:1] in (b"{", b"["):
        return "it is a JSON text file, not a checkpoint (use a run folder's last.pt or best.pt)"
    if not head:
        return "the file is empty"
    return f"not a torch checkpoint file ({type(e).__name__}: {one_line(text, 120)})"


def _bad(path, field: str, value, expected: str) -> TrainingError:
    shown = one_line(repr(value), 60)
    return TrainingError(f"{path}: '{field}' is {shown}, not {expected}")


def _is_seed(v) -> bool:
    return is_int(v) and 0 <= v < 2**64


def check_metrics(m, where: str) -> None:
    """One epoch's metrics (a history entry or a ``metrics.jsonl`` line): a dict with
    :data:`METRIC_KEYS`, ``epoch`` an integer >= 1, every value a finite number, accuracies in
    [0, 1] and losses >= 0. :class:`TrainingError` naming ``where`` and the field."""
    if not isinstance(m, dict):
        raise TrainingError(f"{where} is {one_line(repr(m), 60)}, not an epoch's metrics (an object)")
    for key in METRIC_KEYS:
        if key not in m:
            raise TrainingError(f"{where} has no '{key}': not an epoch's metrics")
    for key, value in m.items():
        if not is_number(value):
            raise _bad(where, key, value, "a finite number")
    if not is_int(m["epoch"]) or m["epoch"] < 1:
        raise _bad(where, "epoch", m["epoch"], "an integer >= 1")
    for key in ("train_acc", "test_acc"):
        if not 0 <= m[key] <= 1:
            raise _bad(where, key, m[key], "an accuracy in [0, 1]")
    for key in ("train_loss", "test_loss"):
        if m[key] < 0:
            raise _bad(where, key, m[key], "a loss >= 0")


def check_history(history, epoch: int | None, where: str) -> None:
    """A list of :func:`check_metrics` entries with increasing epochs, none after ``epoch``."""
    if not isinstance(history, list):
        raise TrainingError(f"{where}: 'history' is not a list of per-epoch metrics "
                            f"(it is {one_line(repr(history), 60)})")
    last = 0
    for k, m in enumerate(history):
        check_metrics(m, f"{where}: 'history'[{k}]")
        if m["epoch"] <= last or (epoch is not None and m["epoch"] > epoch):
            raise TrainingError(f"{where}: 'history'[{k}] is epoch {m['epoch']}, expected epochs that "
                                f"increase and end by the checkpoint's epoch {epoch}")
        last = m["epoch"]


def _check_checksum(ckpt: dict, path) -> None:
    """The content against the ``checksum`` written with it (version 3 on)."""
    written = ckpt.get("checksum")
    if not (isinstance(written, str) and re.fullmatch(r"[0-9a-f]{64}", written)):
        raise _bad(path, "checksum", written, "a sha256 in hex (checkpoint version 3 carries one)")
    if written != content_checksum(ckpt):
        raise TrainingError(f"{path} is damaged: its content does not match the checksum written with it, "
                            "so it changed after it was written (a flipped bit on a disk, a damaged copy, "
                            "an edit) and none of it can be trusted. Use another copy of it (best.pt "
                            "holds the best epoch)")


def _check_model(ckpt: dict, path) -> None:
    model, config = ckpt["model"], ckpt["model_config"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and isinstance(t, torch.Tensor)
                                              for k, t in model.items()):
        raise TrainingError(f"{path}: 'model' is not a state dict of tensors")
    if not isinstance(config, dict) or set(config) - set(MODEL_CONFIG_KEYS):
        unknown = sorted(set(config) - set(MODEL_CONFIG_KEYS)) if isinstance(config, dict) else config
        raise TrainingError(f"{path}: 'model_config' has unknown entries {unknown}; expected some of "
                            f"{', '.join(MODEL_CONFIG_KEYS)}")
    for key, value in config.items():
        if key == "dropout":
            if not (is_number(value) and 0 <= value <= 1):
                raise _bad(path, "model_config.dropout", value, "a probability in [0, 1]")
        elif not is_int(value) or value < 1:
            raise _bad(path, f"model_config.{key}", value, "a positive integer")
    check_model_fits_data(config, ckpt.get("sequence", "rows"), path)
    sizes = {"input_size": 28, "hidden_size": 256, "num_layers": 2, "num_classes": 10, **config}
    expected = lstm_classifier_parameters(sizes["input_size"], sizes["hidden_size"],
                                          sizes["num_layers"], sizes["num_classes"])
    found = sum(t.numel() for t in model.values())
    if expected != found:  # before building a model of that size
        raise TrainingError(f"the checkpoint's weights do not fit its model_config {config}: it "
                            f"describes {expected:,} parameters, {path} holds {found:,}")


NUM_CLASSES = 10  # every dataset here (MNIST, Fashion-MNIST, the sample) has 10 classes


def check_model_fits_data(config: dict, sequence, path) -> None:
    """A ``model_config`` against the data it reads: ``input_size`` 28 for rows (one row of 28
    pixels a step), 1 for pixels (one pixel a step), and ``num_classes`` the data's 10 classes.
    :class:`TrainingError` naming the field, before a model is built or data is read."""
    if sequence not in SEQUENCES:
        raise _bad(path, "sequence", sequence, "one of " + ", ".join(SEQUENCES))
    if not isinstance(config, dict):
        return  # _check_model says what is wrong with it
    steps = "rows (28 pixels a step)" if sequence == "rows" else f"{sequence} (1 pixel a step)"
    expected = 28 if sequence == "rows" else 1
    if "input_size" in config and config["input_size"] != expected:
        raise _bad(path, "model_config.input_size", config["input_size"],
                   f"{expected}: the model reads {steps}")
    if "num_classes" in config and config["num_classes"] != NUM_CLASSES:
        raise _bad(path, "model_config.num_classes", config["num_classes"],
                   f"{NUM_CLASSES}: the data's digits (or garments) have {NUM_CLASSES} classes")


def _check_data(ckpt: dict, path) -> None:
    names = [d for d in DATASETS if d != "auto"]
    if "dataset" in ckpt and ckpt["dataset"] not in names:
        raise _bad(path, "dataset", ckpt["dataset"], "one of " + ", ".join(names))
    if "data" in ckpt:
        data = ckpt["data"]
        if not isinstance(data, dict):
            raise _bad(path, "data", data, "the data's record (name, fingerprint, source, published)")
        checks = {"name": (lambda v: v in names, "one of " + ", ".join(names)),
                  "fingerprint": (lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v),
                                  "a sha256 in hex"),
                  "source": (lambda v: isinstance(v, str), "a string"),
                  "published": (lambda v: isinstance(v, bool), "true or false")}
        for key, (ok, expected) in checks.items():
            if not ok(data.get(key)):
                raise _bad(path, f"data.{key}", data.get(key), expected)
    if "sequence" in ckpt and ckpt["sequence"] not in SEQUENCES:
        raise _bad(path, "sequence", ckpt["sequence"], "one of " + ", ".join(SEQUENCES))
    if "permutation_seed" in ckpt and not _is_seed(ckpt["permutation_seed"]):
        raise _bad(path, "permutation_seed", ckpt["permutation_seed"], "an integer from 0 to 2**64 - 1")


def _check_progress(ckpt: dict, path) -> None:
    epoch = ckpt.get("epoch")
    if "epoch" in ckpt and not (is_int(epoch) and epoch >= 0):
        raise _bad(path, "epoch", epoch, "an integer >= 0")
    if "best_test_acc" in ckpt:
        best_acc = ckpt["best_test_acc"]
        if not is_number(best_acc):
            raise _bad(path, "best_test_acc", best_acc, "a number")
        if not 0 <= best_acc <= 1:
            raise _bad(path, "best_test_acc", best_acc, "an accuracy in [0, 1]")
    best = ckpt.get("best_epoch")
    if best is not None and not (is_int(best) and 1 <= best <= (epoch if is_int(epoch) else best)):
        raise _bad(path, "best_epoch", best, f"an epoch from 1 to {epoch} (or none)")
    if "history" in ckpt:
        check_history(ckpt["history"], epoch if is_int(epoch) else None, str(path))
        _check_best(ckpt, path)


def _check_best(ckpt: dict, path) -> None:
    """``best_test_acc`` and ``best_epoch`` against the history: the best is the history's highest
    test accuracy, first reached at ``best_epoch`` (a history that lacks epochs may only hold
    lower ones)."""
    history, best_acc, best = ckpt["history"], ckpt.get("best_test_acc"), ckpt.get("best_epoch")
    if not history or best_acc is None:
        return
    top = max(m["test_acc"] for m in history)
    complete = ckpt.get("epoch") == len(history)
    by_epoch = {m["epoch"]: m["test_acc"] for m in history}
    first_top = next(m["epoch"] for m in history if m["test_acc"] == top)
    if best_acc < top or (complete and best_acc != top):
        raise _bad(path, "best_test_acc", best_acc, f"the history's best test accuracy {top}")
    if best is not None and ((best in by_epoch and by_epoch[best] != best_acc)
                             or (complete and best != first_top)):
        raise _bad(path, "best_epoch", best, f"the epoch of the best test accuracy ({first_top})")


def _check_state(ckpt: dict, path) -> None:
    """The optimizer's and the random states' structure (their fit to the model is checked when a
    resume loads them: :func:`check_optimizer_fits`)."""
    if "optimizer" in ckpt:
        opt = ckpt["optimizer"]
        groups = opt.get("param_groups") if isinstance(opt, dict) else None
        if (not isinstance(opt, dict) or not isinstance(opt.get("state"), dict) or not isinstance(groups, list)
                or not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups)):
            raise _bad(path, "optimizer", type(opt).__name__, "an optimizer state dict (state, param_groups)")
        run_lr = (ckpt.get("config") or {}).get("lr") if isinstance(ckpt.get("config"), dict) else None
        for g in groups:
            _check_adam_group(g, run_lr if is_number(run_lr) else None, path)
        for index, state in opt["state"].items():
            if not isinstance(state, dict):
                raise _bad(path, f"optimizer.state[{index}]", state, "a dict of tensors")
            step = state.get("step")
            value = float(step) if isinstance(step, torch.Tensor) and step.numel() == 1 else step
            if not (is_number(value) and value >= 0):
                raise _bad(path, f"optimizer.state[{index}].step", step, "a step count >= 0")
    if "rng" in ckpt:
        rng = ckpt["rng"]
        if not isinstance(rng, dict) or not all(
                isinstance(rng.get(k), torch.Tensor) and rng[k].dtype == torch.uint8
                for k in ("torch", "shuffle")):
            raise _bad(path, "rng", type(rng).__name__, "the random states (torch, shuffle: byte tensors)")


ADAM_FLAGS_OFF = ("amsgrad", "maximize", "decoupled_weight_decay")  # the trainer's Adam uses none of them


def _check_adam_group(g: dict, run_lr: float | None, path) -> None:
    """One of Adam's ``param_groups`` as the trainer makes it: ``lr`` a finite number >= 0 and at
    most the run's ``--lr`` (a schedule only lowers it), ``betas`` two numbers in [0, 1), ``eps`` >
    0, ``weight_decay`` >= 0, the variants the trainer does not use (:data:`ADAM_FLAGS_OFF`) off,
    and every other entry true, false or none (a flag of torch's)."""
    field = "optimizer.param_groups"
    if not (is_number(g.get("lr")) and g["lr"] >= 0):
        raise _bad(path, f"{field}.lr", g.get("lr"), "a finite number >= 0")
    if run_lr is not None and g["lr"] > run_lr:
        raise _bad(path, f"{field}.lr", g["lr"], f"at most the run's --lr {run_lr:g} (a schedule only lowers it)")
    betas = g.get("betas")
    if not (isinstance(betas, (list, tuple)) and len(betas) == 2
            and all(is_number(b) and 0 <= b < 1 for b in betas)):
        raise _bad(path, f"{field}.betas", betas, "two numbers in [0, 1)")
    if not (is_number(g.get("eps")) and g["eps"] > 0):
        raise _bad(path, f"{field}.eps", g.get("eps"), "a finite number > 0")
    if not (is_number(g.get("weight_decay")) and g["weight_decay"] >= 0):
        raise _bad(path, f"{field}.weight_decay", g.get("weight_decay"), "a finite number >= 0")
    for key in ADAM_FLAGS_OFF:
        if g.get(key, False) is not False:
            raise _bad(path, f"{field}.{key}", g[key], "false (the trainer's Adam does not use it)")
    for key, value in g.items():
        if key not in ("params", "lr", "betas", "eps", "weight_decay") and value not in (True, False, None):
            raise _bad(path, f"{field}.{key}", value, "true, false or none")
    if not all(is_int(i) for i in g["params"]):
        raise _bad(path, f"{field}.params", g["params"], "a list of parameter indices")


def _check_config(ckpt: dict, path) -> None:
    """The run's settings: a dict whose known entries pass :meth:`TrainConfig.validate` (unknown
    ones are for ``--resume`` to refuse; ``eval`` and ``gates`` do not need them)."""
    config = ckpt["config"]
    if not isinstance(config, dict):
        raise _bad(path, "config", config, "the run's settings (a dict)")
    known = {f.name for f in fields(TrainConfig)}
    try:
        TrainConfig(**{k: v for k, v in config.items() if k in known}).validate()
    except TrainingError as e:
        raise TrainingError(f"{path}: 'config' holds a bad setting: {e}") from None


def check_checkpoint(ckpt, path, checksum: bool = True) -> None:
    """Check every field of a loaded checkpoint, its type and its range, before anything uses it;
    :class:`TrainingError` names the first bad field. Fields a version-1 checkpoint lacks (``data``,
    ``history``, ``best_epoch``) may be missing. ``checksum=False``: not the checksum (a dict made
    or edited in Python, not a file)."""
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise TrainingError(f"{path} is not a scratch-lstm checkpoint (no 'model'/'model_config')")
    version = ckpt.get("version", 1)
    if not is_int(version) or version > CHECKPOINT_VERSION:
        raise TrainingError(f"{path} has checkpoint version {version!r}; this scratch-lstm reads "
                            f"versions 1 to {CHECKPOINT_VERSION} (upgrade scratch-lstm)")
    if version < 1:
        raise _bad(path, "version", version, f"1 to {CHECKPOINT_VERSION}")
    if checksum and (version >= 3 or "checksum" in ckpt):  # verified, whatever the version says
        _check_checksum(ckpt, path)
    _check_model(ckpt, path)
    if ckpt.get("dtype", "float32") not in DTYPES or ckpt.get("backend", "scratch") not in BACKENDS:
        raise TrainingError(f"{path}: unknown dtype {ckpt.get('dtype')!r} or backend {ckpt.get('backend')!r}")
    _check_data(ckpt, path)
    _check_progress(ckpt, path)
    _check_state(ckpt, path)
    if "config" in ckpt:
        _check_config(ckpt, path)


def model_from_checkpoint(ckpt: dict, backend: str | None = None, device="cpu") -> LSTMClassifier:
    """Rebuild the classifier of a checkpoint, on any backend (all share parameter names).

    Raises :class:`TrainingError` if the weights do not fit the checkpoint's ``model_config`` or
    are not all finite (a diverged run's).
    """
    dtype = getattr(torch, ckpt.get("dtype", "float32"))
    check_model_fits_data(ckpt["model_config"], ckpt.get("sequence", "rows"), "the checkpoint")
    try:
        with warnings.catch_warnings():  # a 1-layer run's dropout did nothing, and does nothing here
            warnings.filterwarnings("ignore", "dropout option adds dropout", UserWarning)
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


def check_optimizer_fits(state: dict, model, path) -> None:
    """Adam's saved ``state`` against ``model``: its groups hold every parameter once, and each
    parameter's moments have that parameter's shape (a wrong shape would only fail inside the
    first step). :class:`TrainingError` naming the field."""
    names = [name for name, _ in model.named_parameters()]
    params = list(model.parameters())
    indices = sorted(i for g in state["param_groups"] for i in g["params"])
    if indices != list(range(len(params))):
        raise TrainingError(f"{path}: 'optimizer' holds parameters {one_line(str(indices), 60)}; the "
                            f"model has {len(params)} (0 to {len(params) - 1})")
    for index, moments in state["state"].items():
        if not is_int(index) or not 0 <= index < len(params):
            raise _bad(path, "optimizer.state", index, f"a parameter index from 0 to {len(params) - 1}")
        shape = tuple(params[index].shape)
        for key in ("exp_avg", "exp_avg_sq"):
            t = moments.get(key)
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or not t.is_floating_point():
                found = (f"shape {tuple(t.shape)}" + ("" if t.is_floating_point() else f" of {t.dtype}")
                         if isinstance(t, torch.Tensor) else one_line(repr(t), 40))
                raise TrainingError(f"{path}: 'optimizer.state[{index}].{key}' (of {names[index]}) is "
                                    f"{found}, not a tensor of shape {shape}")
        if bool((moments["exp_avg_sq"] < 0).any()):
            raise TrainingError(f"{path}: 'optimizer.state[{index}].exp_avg_sq' (of {names[index]}) holds "
                                "negative values; a mean of squares is >= 0")
        step = moments.get("step")
        if not ((isinstance(step, torch.Tensor) and step.numel() == 1) or is_number(step)):
            raise _bad(path, f"optimizer.state[{index}].step", step, "a step count")


def state_is_finite(model, optimizer) -> bool:
    """Whether every parameter and every optimizer state tensor (Adam's moments) is finite: the
    condition for writing a checkpoint, and for resuming from one."""
    tensors = list(model.parameters())
    tensors += [t for state in optimizer.state.values() for t in state.values()
                if isinstance(t, torch.Tensor) and t.is_floating_point()]
    return all(bool(torch.isfinite(t).all()) for t in tensors)
