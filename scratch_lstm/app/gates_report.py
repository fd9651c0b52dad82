"""``scratch-lstm gates``: how one test digit flows through the gates, fresh versus trained."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..classifier import LSTMClassifier
from ..gates import saturation, trace_gates
from .checkpoints import load_checkpoint, model_from_checkpoint
from .config import check_backend_device, init_of_checkpoint, resolve_device, threads_line, use_threads
from .data import load_dataset, pixel_permutation, sequence_view
from .errors import DataError, TrainingError
from .evaluate import dataset_to_use
from .files import atomic_write_bytes, check_target, is_our_figure, json_with_keys, make_folders
from .plots import check_can_draw, plot_gate_change, plot_gates, plot_hidden_trajectory
from .runs import check_out_folder, check_out_is_not_data

SATURATION_EPS = 0.05  # a gate within this of a limit counts as saturated (closed or open)


def _rounded(t: torch.Tensor) -> list:
    return [[round(v, 5) for v in row] for row in t.tolist()]


def fresh_model(ckpt: dict) -> LSTMClassifier:
    """The checkpoint's run as it started: its classifier drawn again from the run's seed, with
    its ``--init`` (on the teaching path, on the CPU, in evaluation mode). The global random state
    is left as it was. A run that drew its weights on a GPU drew them from the GPU's random
    stream: this is the same seed, init and distribution, not the same numbers
    (:func:`drawn_on_gpu`)."""
    config = ckpt.get("config")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.get("seed", 0) if isinstance(config, dict) else 0)
        fresh = LSTMClassifier(**ckpt["model_config"], dtype=getattr(torch, ckpt.get("dtype", "float32")))
    init_of_checkpoint(ckpt).apply_init(fresh)  # the run's --init: fresh is where training started
    return fresh.eval()


def drawn_on_gpu(ckpt: dict) -> bool:
    """Whether the checkpoint's run drew its initial weights on a CUDA GPU (it saved a CUDA random state)."""
    rng = ckpt.get("rng")
    return isinstance(rng, dict) and "cuda" in rng


def gates_report(checkpoint: str, index: int, out: str, dataset: str | None = None,
                 data_dir: str | None = None, download: bool = False, backend: str = "scratch",
                 device: str = "cpu", threads: int | None = None) -> dict:
    """Trace test image ``index`` through the checkpoint's model and a freshly initialised one
    (same configuration, seed and ``--init``); write ``gates_trained.png``, ``gates_fresh.png``,
    ``trajectory.png``, ``change.png`` and ``gates.json`` into ``out``. Returns the JSON dict.
    ``dataset`` defaults to the one the checkpoint was trained on (with ``data_dir``, full MNIST
    for a checkpoint of the embedded sample: :func:`~scratch_lstm.app.evaluate.dataset_to_use`).
    ``out`` and the data are
    checked before anything is written (:class:`TrainingError`, :class:`DataError`). The
    predictions come from ``backend`` on ``device``; the gates are always traced through the
    teaching path's ``lstm_step`` on the CPU, with ``threads`` CPU threads (None: torch's
    default), which a line before the tracing says.
    """
    before = use_threads(threads)
    try:
        return _gates_report(checkpoint, index, out, dataset, data_dir, download, backend, device, threads)
    finally:
        torch.set_num_threads(before)


GATES_FILES = ("gates_trained.png", "gates_fresh.png", "trajectory.png", "change.png", "gates.json")


def check_outputs(out_dir: Path, checkpoint) -> None:
    """The write rule (:func:`~scratch_lstm.app.files.check_target`) for each file the command
    writes into ``out_dir``: new, or its own earlier output; never the checkpoint it reads."""
    for name in GATES_FILES:
        ours = (json_with_keys("checkpoint", "index", "trained", "fresh") if name.endswith(".json")
                else is_our_figure)
        check_target(out_dir / name, ours, inputs=[checkpoint], what=f"a {name} that scratch-lstm gates wrote")


def _gates_report(checkpoint, index, out, dataset, data_dir, download, backend, device, threads) -> dict:
    out_dir = Path(out)
    check_out_folder(out_dir)
    check_outputs(out_dir, checkpoint)
    check_can_draw()  # before anything is computed
    device = resolve_device(device)
    check_backend_device(backend, device)
    ckpt = load_checkpoint(checkpoint)
    trained = model_from_checkpoint(ckpt, backend="scratch").eval()
    fresh = fresh_model(ckpt)
    dataset, note = dataset_to_use(ckpt, checkpoint, dataset, data_dir, download)
    ds = load_dataset(dataset, data_dir, download, command="gates")
    check_out_is_not_data(out_dir, data_dir, ds)
    if note:
        print(note)
    print(threads_line(threads), flush=True)
    if not 0 <= index < len(ds.test_labels):
        raise DataError(f"--index {index} is out of range: the test split has {len(ds.test_labels)} images")
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    image = ds.test_images[index]
    x = sequence_view(image[None], sequence, *ds.stats, perm).to(trained.lin.weight.dtype)  # (1, T, I)
    label = int(ds.test_labels[index])
    try:
        make_folders(out_dir)  # removed again if the command fails before writing into it
    except OSError as e:
        raise TrainingError(f"--out {out_dir}: cannot create it ({e.strerror or e})") from None
    result = {"checkpoint": str(checkpoint), "dataset": ds.name, "index": index, "label": label,
              "backend": backend}
    digit = f"{ds.name} test image {index} (label {label})"
    with torch.no_grad():
        traces = {}
        for name, model in (("trained", trained), ("fresh", fresh)):
            traces[name] = trace_gates(model.rnn, x)
            predictor = LSTMClassifier(**ckpt["model_config"], backend=backend, device=device,
                                       dtype=trained.lin.weight.dtype).eval()
            predictor.load_state_dict(model.state_dict())
            pred = int(predictor(x.to(device)).argmax(1))
            plot_gates(image, traces[name], out_dir / f"gates_{name}.png",
                       f"{name} model reading {digit}: predicts {pred}")
            result[name] = {
                "predicted": pred,
                "saturation": saturation(traces[name], SATURATION_EPS),
                "gates": {f"l{r.layer}_{r.direction}": {g: _rounded(r[g][0]) for g in "ifgoch"}
                          for r in traces[name]},
            }
        plot_hidden_trajectory(traces["trained"], out_dir / "trajectory.png",
                               title=f"trained model reading {digit}")
        plot_gate_change(traces["fresh"], traces["trained"], out_dir / "change.png", eps=SATURATION_EPS,
                         title=f"Gate values of the fresh and the trained model over all steps and hidden "
                               f"units of {digit}\nshaded: saturated, within {SATURATION_EPS} of a limit; "
                               "each row has its own y scale")
    atomic_write_bytes(out_dir / "gates.json", lambda fh: fh.write((json.dumps(result) + "\n").encode()))
    _print_report(result, digit, out_dir)
    return result


def _print_report(result: dict, digit: str, out_dir: Path) -> None:
    """What the gates command prints: predictions, saturation trained (fresh), the files."""
    trained_sat, fresh_sat = result["trained"]["saturation"], result["fresh"]["saturation"]
    print(f"{digit}: trained model predicts {result['trained']['predicted']}, "
          f"fresh model {result['fresh']['predicted']}")
    print(f"share of gate values within {SATURATION_EPS} of a limit, trained (fresh):")
    for key, sat in trained_sat.items():
        old = fresh_sat[key]
        print(f"  {key}: forget gate open (>{1 - SATURATION_EPS:g}) {100 * sat['f_open']:.1f}% "
              f"({100 * old['f_open']:.1f}%), closed (<{SATURATION_EPS:g}) {100 * sat['f_closed']:.1f}% "
              f"({100 * old['f_closed']:.1f}%); input gate open {100 * sat['i_open']:.1f}% "
              f"({100 * old['i_open']:.1f}%)")
    print(f"wrote to {out_dir}:\n"
          "  gates_trained.png, gates_fresh.png  every gate and the cell, time running down\n"
          "  trajectory.png                      the trained h_t on its 2 principal components\n"
          "  change.png                          gate histograms, fresh vs trained, with saturation\n"
          "  gates.json                          all the numbers")
