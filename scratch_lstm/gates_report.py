"""``scratch-lstm gates``: how one test digit flows through the gates, fresh versus trained."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .classifier import LSTMClassifier
from .data import DataError, load_dataset, pixel_permutation, sequence_view
from .gates import saturation, trace_gates
from .plots import plot_gate_change, plot_gates, plot_hidden_trajectory
from .train import (TrainingError, atomic_write_bytes, check_out_folder, load_checkpoint,
                    model_from_checkpoint)


def _rounded(t: torch.Tensor) -> list:
    return [[round(v, 5) for v in row] for row in t.tolist()]


def gates_report(checkpoint: str, index: int, out: str, dataset: str | None = None,
                 data_dir: str | None = None, download: bool = False) -> dict:
    """Trace test image ``index`` through the checkpoint's model and a freshly initialised one
    (same configuration and seed); write ``gates_trained.png``, ``gates_fresh.png``,
    ``trajectory.png``, ``change.png`` and ``gates.json`` into ``out``. Returns the JSON dict.
    ``dataset`` defaults to the one the checkpoint was trained on. ``out`` and the data are
    checked before anything is written (:class:`TrainingError`, :class:`DataError`).
    """
    out_dir = Path(out)
    check_out_folder(out_dir)
    ckpt = load_checkpoint(checkpoint)
    trained = model_from_checkpoint(ckpt, backend="scratch").eval()
    config = ckpt.get("config")
    torch.manual_seed(config.get("seed", 0) if isinstance(config, dict) else 0)
    fresh = LSTMClassifier(**ckpt["model_config"], dtype=trained.lin.weight.dtype).eval()
    ds = load_dataset(dataset or ckpt.get("dataset", "auto"), data_dir, download, command="gates")
    if not 0 <= index < len(ds.test_labels):
        raise DataError(f"--index {index} is out of range: the test split has {len(ds.test_labels)} images")
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    image = ds.test_images[index]
    x = sequence_view(image[None], sequence, *ds.stats, perm).to(trained.lin.weight.dtype)  # (1, T, Q)
    label = int(ds.test_labels[index])
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainingError(f"--out {out_dir}: cannot create it ({e.strerror or e})") from None
    result = {"checkpoint": str(checkpoint), "dataset": ds.name, "index": index, "label": label}
    with torch.no_grad():
        traces = {}
        for name, model in (("trained", trained), ("fresh", fresh)):
            traces[name] = trace_gates(model.rnn, x)
            pred = int(model(x).argmax(1))
            plot_gates(image, traces[name], out_dir / f"gates_{name}.png",
                       f"{name} model: label {label}, predicted {pred}")
            result[name] = {
                "predicted": pred,
                "saturation": saturation(traces[name]),
                "gates": {f"l{r.layer}_{r.direction}": {g: _rounded(r[g][0]) for g in "ifgoch"}
                          for r in traces[name]},
            }
        plot_hidden_trajectory(traces["trained"], out_dir / "trajectory.png")
        plot_gate_change(traces["fresh"], traces["trained"], out_dir / "change.png")
    atomic_write_bytes(out_dir / "gates.json", lambda fh: fh.write((json.dumps(result) + "\n").encode()))
    print(f"digit {index} (label {label}): trained model predicts {result['trained']['predicted']}, "
          f"fresh model {result['fresh']['predicted']}")
    for key, sat in result["trained"]["saturation"].items():
        print(f"  {key}: forget gate open (>0.95) {100 * sat['f_open']:.1f}% of values, closed "
              f"(<0.05) {100 * sat['f_closed']:.1f}%; input gate open {100 * sat['i_open']:.1f}%")
    print(f"wrote gates_trained.png, gates_fresh.png, trajectory.png, change.png, gates.json to {out_dir}")
    return result
