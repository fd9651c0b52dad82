"""Evaluation: the lecture's accuracy (plus loss and a confusion matrix), and ``scratch-lstm eval``,
with lesions (``--clamp``: a gate held fixed, :class:`scratch_lstm.GateClamp`) beside it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..clamps import check_clamps
from .checkpoints import load_checkpoint, model_from_checkpoint
from .config import check_backend_device, resolve_device, threads_line, use_threads
from .data import Batches, load_dataset, pixel_permutation
from .errors import TrainingError
from .progress import with_progress


@torch.no_grad()
def evaluate(model, batches, num_classes: int = 10, clamps=()) -> dict:
    """The lecture's evaluation (eval mode, no grad), plus loss and a confusion matrix.

    Returns ``{"loss", "acc", "confusion"}``; ``confusion[true][pred]`` counts test samples.
    ``clamps`` (:class:`scratch_lstm.GateClamp`) evaluate a lesioned model (an
    :class:`~scratch_lstm.LSTMClassifier` of this project's LSTM). Restores the model's previous mode.
    """
    was_training = model.training
    model.eval()
    n_total, n_correct, loss_sum = 0, 0, 0.0
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for x, y in batches:
        x = x.to(next(model.parameters()).dtype)
        logits = model(x, clamps=clamps) if clamps else model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        pred = logits.argmax(1)
        n_correct += (pred == y).sum().item()
        n_total += y.numel()
        confusion += torch.bincount(y.cpu() * num_classes + pred.cpu(),
                                    minlength=num_classes**2).view(num_classes, num_classes)
    model.train(was_training)
    return {"loss": loss_sum / max(n_total, 1), "acc": n_correct / max(n_total, 1),
            "confusion": confusion.tolist()}


def dataset_to_use(ckpt: dict, checkpoint: str, dataset: str | None, data_dir: str | None,
                   download: bool) -> tuple[str, str | None]:
    """The dataset ``eval`` and ``gates`` read, and a note when it is not the obvious one.

    ``dataset`` if given; else the one the checkpoint was trained on, except that a ``--data-dir``
    (or ``--download``) with a checkpoint of the embedded sample means full MNIST from there (the
    sample is drawn from MNIST, and the flag is used, not ignored).
    """
    trained = ckpt.get("dataset", "auto")
    if dataset is None and trained == "mnist-sample" and (data_dir is not None or download):
        return "mnist", (f"note: {checkpoint} was trained on the embedded MNIST sample; --data-dir was "
                         "given, so this is full MNIST's test split from there (leave out --data-dir "
                         "for the sample's test images)")
    return dataset or trained, None


def evaluate_checkpoint(checkpoint: str, backend: str | None = None, dataset: str | None = None,
                        data_dir: str | None = None, download: bool = False,
                        batch_size: int = 1000, device: str = "auto",
                        threads: int | None = None, clamps=()) -> dict:
    """``scratch-lstm eval``: a checkpoint's accuracy on a test split, printed with its confusion
    matrix; returns :func:`evaluate`'s dict. ``backend`` defaults to the one it was trained
    with, ``dataset`` to the data it was trained on (:func:`dataset_to_use`); ``threads`` sets
    torch's CPU threads for the call, which a line before the evaluation says
    (:func:`~scratch_lstm.app.config.threads_line`).

    With ``clamps`` (:class:`scratch_lstm.GateClamp`, all held at once) the same test split is
    evaluated a second time, lesioned, through the teaching path (a ``scratch`` copy of the
    model, whatever ``backend``), and printed beside the unclamped accuracy; the result's
    ``"clamped"`` holds that evaluation and the clamps as text. A clamp of a layer or unit the
    checkpoint's LSTM lacks is a :class:`TrainingError`, before anything is evaluated."""
    before = use_threads(threads)
    try:
        return _evaluate_checkpoint(checkpoint, backend, dataset, data_dir, download, batch_size, device,
                                    threads, tuple(clamps))
    finally:
        torch.set_num_threads(before)


def _evaluate_checkpoint(checkpoint, backend, dataset, data_dir, download, batch_size, device,
                         threads, clamps) -> dict:
    ckpt = load_checkpoint(checkpoint)
    device = resolve_device(device)
    if backend:
        check_backend_device(backend, device)
    else:
        check_backend_device(ckpt.get("backend", "scratch"), device,
                             source=f"{checkpoint}'s backend, triton,")
    model = model_from_checkpoint(ckpt, backend, device)
    for clamp in clamps:  # each against the checkpoint's LSTM, before any work
        try:
            check_clamps(clamp, model.rnn.num_layers, model.rnn.hidden_size)
        except ValueError as e:
            raise TrainingError(f"--{e} ({checkpoint})") from None
    dataset, note = dataset_to_use(ckpt, checkpoint, dataset, data_dir, download)
    ds = load_dataset(dataset, data_dir, download, command="eval")
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    batches = Batches(ds.test_images, ds.test_labels, batch_size, sequence, ds.stats, perm,
                      device=device)
    trained_on = ckpt.get("data", {}).get("fingerprint")
    other = (" (not the data it was trained on)" if trained_on and trained_on != ds.fingerprint
             else "")
    print(f"checkpoint: {checkpoint} (epoch {ckpt.get('epoch')}, trained on "
          f"{ckpt.get('dataset')}, backend {ckpt.get('backend')}); evaluated with backend "
          f"{backend or ckpt.get('backend')} on {device}")
    if note:
        print(note)
    print(f"data: {ds.name} test split from {ds.source}{other}")
    print(threads_line(threads), flush=True)
    result = evaluate(model, with_progress(batches, "eval"))
    print(f"test accuracy: {100 * result['acc']:.2f}% ({len(ds.test_labels):,} samples), "
          f"loss {result['loss']:.4f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    print("      " + "".join(f"{c:>6}" for c in range(10)))
    for true, row in enumerate(result["confusion"]):
        print(f"{true:>6}" + "".join(f"{n:>6}" for n in row))
    if clamps:
        text = " ".join(f"--clamp {c}" for c in clamps)
        print(f"lesion {text}: evaluating through the teaching path", flush=True)
        lesioned = model_from_checkpoint(ckpt, "scratch", device)
        clamped = evaluate(lesioned, with_progress(batches, "eval, clamped"), clamps=clamps)
        change = 100 * (clamped["acc"] - result["acc"])
        print(f"test accuracy with {text}: {100 * clamped['acc']:.2f}% (unclamped {100 * result['acc']:.2f}%, "
              f"{change:+.2f} points), loss {clamped['loss']:.4f} (unclamped {result['loss']:.4f})")
        result["clamped"] = {**clamped, "clamps": [str(c) for c in clamps]}
    return result
