"""``scratch-lstm gradient-flow``: how much of the loss's gradient reaches each step, per init.

For fresh classifiers (one per ``--init``, the same seed, drawn as ``train`` draws them) or for
trained checkpoints, one batch of test images goes through :func:`scratch_lstm.gradient_flow`;
the command writes ``gradient_flow.png`` (log scale over t, one line per model) and
``gradient_flow.json`` (every number), and prints how far back the gradient reaches.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from ..classifier import LSTMClassifier
from ..gates import INITS
from ..gradient_flow import GradientFlow, gradient_flow
from .checkpoints import load_checkpoint, model_from_checkpoint
from .config import TrainConfig, init_of_checkpoint, threads_line, use_threads
from .data import SEQUENCES, load_dataset, pixel_permutation, sequence_view
from .errors import DataError, TrainingError
from .evaluate import dataset_to_use
from .files import check_target, is_our_figure, json_with_keys, make_folders, save_json
from .limits import check_fits, lstm_classifier_parameters, overhead_bytes
from .plots import check_can_draw, plot_gradient_flow
from .runs import check_out_folder, check_out_is_not_data

LAGS = (10, 100)  # steps back from the last step that the printed summary reports (and T - 1)


def add_arguments(p) -> None:
    """The command's flags, except the data flags (the CLI adds those)."""
    from .flags import (
        add_threads_flag,
        chrono_t_max,
        forget_bias,
        non_negative_int,
        path,
        positive_int,
        seed,
    )

    p.add_argument("--out", metavar="DIR", type=path,
                   help="folder for gradient_flow.png and gradient_flow.json (default: a new "
                        "runs/gradient-flow1, runs/gradient-flow2, ...)")
    p.add_argument("--init", nargs="+", choices=tuple(INITS), default=list(INITS),
                   help="fresh models to compare, one per init (the same seed and weights but for "
                        "the gate biases)")
    p.add_argument("--checkpoint", nargs="+", metavar="PT",
                   help="trained checkpoints to measure instead of fresh models, e.g. runs/exp1/best.pt "
                        "of a first `scratch-lstm train` (each with its own sequence form and model "
                        "size; the fresh-model flags are then not used)")
    p.add_argument("--sequence", choices=SEQUENCES, default="pixels",
                   help="how fresh models read an image: rows (28 steps), pixels or permuted (784)")
    p.add_argument("--permutation-seed", type=seed, default=0, help="seed of the permuted pixel order")
    p.add_argument("--hidden-size", type=positive_int, default=128, help="hidden units of fresh models")
    p.add_argument("--num-layers", type=positive_int, default=1, help="layers of fresh models")
    p.add_argument("--forget-bias", type=forget_bias, default=None, metavar="B",
                   help="b_f of --init forget-bias (default: 1.0)")
    p.add_argument("--chrono-t-max", type=chrono_t_max, default=None, metavar="T",
                   help="longest timescale of --init chrono (default: the sequence length)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the fresh models' weights")
    p.add_argument("--batch-size", type=positive_int, default=32,
                   help="test images in the batch (the first ones of the test split)")
    p.add_argument("--first-image", type=non_negative_int, default=0,
                   help="index of the batch's first test image")
    add_threads_flag(p)


def fresh_models(inits: list[str], sequence: str, hidden_size: int, num_layers: int, seed: int,
                 forget_bias: float | None = None, chrono_t_max: int | None = None,
                 permutation_seed: int = 0) -> dict:
    """``{label: (model, sequence, permutation_seed)}``: one classifier per init, each drawn as
    ``train --init`` draws it (same seed, so the same weights but for the gate biases).
    :class:`TrainingError` for a value given to an init that is not asked for."""
    for value, init, flag in ((forget_bias, "forget-bias", "--forget-bias"),
                              (chrono_t_max, "chrono", "--chrono-t-max")):
        if value is not None and init not in inits:
            raise TrainingError(f"{flag} is a setting of --init {init}, which is not among --init "
                                f"{' '.join(inits)}")
    models = {}
    for init in dict.fromkeys(inits):  # in the order given, once each
        cfg = TrainConfig(init=init, sequence=sequence, hidden_size=hidden_size, num_layers=num_layers,
                          seed=seed, forget_bias=forget_bias if init == "forget-bias" else None,
                          chrono_t_max=chrono_t_max if init == "chrono" else None)
        cfg.validate()
        cfg = cfg.with_init_defaults()
        torch.manual_seed(seed)
        model = LSTMClassifier(**cfg.model_config())
        cfg.apply_init(model)
        models[cfg.init_text()] = (model, sequence, permutation_seed)
    return models


def checkpoint_models(paths: list[str]) -> tuple[dict, dict | None]:
    """``{label: (model, sequence, permutation seed)}`` for each checkpoint, and the first
    checkpoint (whose data the command reads by default)."""
    models, first = {}, None
    for path in paths:
        ckpt = load_checkpoint(path)
        model = model_from_checkpoint(ckpt, backend="scratch")
        sequence = ckpt.get("sequence", "rows")
        label = f"{path}: {init_of_checkpoint(ckpt).init_text()}, {sequence}"
        models[label] = (model, sequence, ckpt.get("permutation_seed", 0))
        first = first or ckpt
    return models, first


def check_flow_fits(args) -> None:
    """Refuse (:class:`TrainingError`) fresh models and a batch that cannot fit in memory, before
    anything is allocated: the weights, the batch, and the float64 gates, states and gradients of
    every step that the measurement keeps (a lower bound)."""
    T, Q = (28, 28) if args.sequence == "rows" else (784, 1)
    B, H, K = args.batch_size, args.hidden_size, args.num_layers
    need = 4 * lstm_classifier_parameters(Q, H, K, 10) + 8 * (B * T * Q + 8 * B * T * K * H) + overhead_bytes(K, T)
    check_fits(need, f"--hidden-size {H} --num-layers {K} --batch-size {B} on {T} steps (the weights, "
                     "the batch, and the gates, states and gradients of every step)",
               hint="lower --hidden-size, --num-layers or --batch-size")


def gradient_flow_report(args) -> dict:
    """Run the command for parsed ``args``: measure (with ``--threads`` CPU threads, which a line
    before the measurement says), write the figure and JSON into ``--out``, print the summary;
    returns the JSON dict. Everything is checked before anything is written: ``--out`` (not a
    file, not the data's folder), the sizes, the checkpoints, the data (for a checkpoint of the
    embedded sample, ``--data-dir`` means full MNIST from there, as for ``eval`` and ``gates``). A
    folder it created is removed again if nothing could be written into it."""
    before = use_threads(args.threads)
    try:
        return _gradient_flow_report(args)
    finally:
        torch.set_num_threads(before)


def next_out_folder(root: str | Path = "runs") -> Path:
    """``root/gradient-flowN`` with N one more than the largest existing one: the default
    ``--out``, a new folder each time, as ``train``'s ``runs/expN``."""
    root = Path(root)
    taken = [int(m.group(1)) for p in (root.iterdir() if root.is_dir() else ())
             if (m := re.fullmatch(r"gradient-flow(\d+)", p.name))]
    return root / f"gradient-flow{max(taken, default=0) + 1}"


def _gradient_flow_report(args) -> dict:
    out = Path(args.out) if args.out is not None else next_out_folder()
    check_out_folder(out)
    for name, ours in (("gradient_flow.png", is_our_figure),
                       ("gradient_flow.json", json_with_keys("dataset", "images", "models"))):
        check_target(out / name, ours, inputs=args.checkpoint or [],
                     what=f"a {name} that scratch-lstm gradient-flow wrote")
    check_can_draw()  # before anything is computed
    note = None
    if args.checkpoint:
        models, first = checkpoint_models(args.checkpoint)
        dataset, note = dataset_to_use(first, args.checkpoint[0], args.dataset, args.data_dir, args.download)
    else:
        check_flow_fits(args)
        models = fresh_models(args.init, args.sequence, args.hidden_size, args.num_layers, args.seed,
                              args.forget_bias, args.chrono_t_max, args.permutation_seed)
        dataset = args.dataset or "auto"
    ds = load_dataset(dataset, args.data_dir, args.download, command="gradient-flow")
    check_out_is_not_data(out, args.data_dir, ds)
    if note:
        print(note)
    first, B = args.first_image, args.batch_size
    if first + B > len(ds.test_labels):
        raise DataError(f"--first-image {first} with --batch-size {B} runs past the test split's "
                        f"{len(ds.test_labels)} images")
    images, y = ds.test_images[first : first + B], ds.test_labels[first : first + B].long()
    print(threads_line(args.threads), flush=True)
    flows: dict[str, GradientFlow] = {}
    for label, (model, sequence, perm_seed) in models.items():
        perm = pixel_permutation(perm_seed) if sequence == "permuted" else None
        x = sequence_view(images, sequence, *ds.stats, perm).to(model.lin.weight.dtype)  # (B, T, I)
        flows[label] = gradient_flow(model, x, y)
    try:
        make_folders(out)
    except OSError as e:
        raise TrainingError(f"--out {out}: cannot create it ({e.strerror or e})") from None
    what = f"{ds.name} test images {first}..{first + B - 1}"
    sizes = {label: f"H {m.hidden_size}, {m.rnn.num_layers} layer(s)" for label, (m, *_) in models.items()}
    plot_gradient_flow(flows, out / "gradient_flow.png",
                       title=f"How much of the loss's gradient reaches step t (layer 0): "
                             f"{'trained' if args.checkpoint else 'fresh'} LSTMs on {what}")
    result = {"dataset": ds.name, "images": [first, first + B], "seed": args.seed,
              "models": {label: {"model": sizes[label], "sequence": models[label][1],
                                 **flow.to_dict()} for label, flow in flows.items()}}
    save_json(out / "gradient_flow.json", result)
    _print_summary(flows, what, out)
    return result


def reach(flow: GradientFlow, lag: int, layer: int = 0) -> float:
    """``‖dL/dc_t‖`` at ``lag`` steps before the last, relative to the last step's."""
    dc = flow.dc[layer]
    return (dc[dc.numel() - 1 - lag] / dc[-1]).item()


def steps_until(flow: GradientFlow, fraction: float, layer: int = 0) -> int | None:
    """How many steps back ``‖dL/dc_t‖`` first falls below ``fraction`` of the last step's, or
    None if it never does."""
    dc = flow.dc[layer]
    below = (dc.flip(0) < fraction * dc[-1]).nonzero()
    return int(below[0]) if len(below) else None


def _print_summary(flows: dict, what: str, out: Path) -> None:
    print(f"gradient through time on {what} (layer 0): ‖dL/dc_t‖ relative to the last step")
    for label, flow in flows.items():
        T = flow.dc.size(1)
        lags = [lag for lag in LAGS if lag < T - 1] + [T - 1]
        lost = steps_until(flow, 1e-6)
        parts = [f"below 1e-6 from {lost} steps back" if lost is not None else "never below 1e-6"]
        parts += [f"{lag} steps back {reach(flow, lag):.1e}" for lag in lags]
        product = flow.log10_forget_product[0, 0].item()
        product_text = f"1e{product:.0f}" if math.isfinite(product) else "0"
        print(f"  {label}: {'; '.join(parts)}; mean forget-gate product over all {T - 1} steps "
              f"{product_text}")
    print(f"wrote {out / 'gradient_flow.png'} and {out / 'gradient_flow.json'}")
