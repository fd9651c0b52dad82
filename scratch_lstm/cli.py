"""The ``scratch-lstm`` command line: train, eval, inspect, bench, gates.

User mistakes (missing data, bad flags, unreadable checkpoints, unusable folders) end with one
``error:`` line (a not-found message adds what to do below it) and exit code 2, never a traceback.
Every flag has a help text that shows its default; a mistyped flag prints the usage of the
subcommand it was given to; abbreviations of flags are not accepted.
"""

from __future__ import annotations

import argparse
import difflib
import math
import sys

import torch

from .classifier import BACKENDS
from .data import DATASETS, SEQUENCES, DataError
from .train import CUDA_GRAPH, DEVICES, DTYPES, SCHEDULES

BACKEND_HELP = ("scratch: the gate equations; fused: the fast path (hand-derived backward); "
                "triton: the GPU kernels (CUDA); torch: nn.LSTM")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that shows each flag's default, except where there is none (None, False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _number(text: str, kind, check, expected: str):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not check(value):
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text}")
    return value


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v > 0, "a positive integer")


def _non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def _seed(text: str) -> int:
    return _number(text, int, lambda v: 0 <= v < 2**64, "an integer from 0 to 2**64 - 1")


def _non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")


def _probability(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v <= 1, "a probability in [0, 1]")


def _add_data_flags(p: argparse.ArgumentParser, for_checkpoint: bool = False) -> None:
    if for_checkpoint:
        p.add_argument("--dataset", choices=DATASETS, default=None,
                       help="the test split to use (default: the dataset the checkpoint was trained on)")
    else:
        p.add_argument("--dataset", choices=DATASETS, default="auto",
                       help="auto: full MNIST from --data-dir (or downloaded), and without --data-dir "
                            "the embedded 6,000-image sample; mnist and fashion-mnist never fall back")
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with DIR/MNIST/raw/* (DIR/FashionMNIST/raw/*) or the four IDX files "
                        "themselves; only read. If given, the data must be there")
    p.add_argument("--download", action="store_true",
                   help="download through torchvision into --data-dir if not found there")


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k not in ("command", "func")})
    train(cfg)
    return 0


def _cmd_eval(args) -> int:
    from .data import Batches, load_dataset, pixel_permutation
    from .train import (check_backend_device, evaluate, load_checkpoint, model_from_checkpoint,
                        resolve_device, with_progress)

    ckpt = load_checkpoint(args.checkpoint)
    device = resolve_device(args.device)
    if args.backend:
        check_backend_device(args.backend, device)
    else:
        check_backend_device(ckpt.get("backend", "scratch"), device,
                             source=f"{args.checkpoint}'s backend, triton,")
    model = model_from_checkpoint(ckpt, args.backend, device)
    ds = load_dataset(args.dataset or ckpt.get("dataset", "auto"), args.data_dir, args.download,
                      command="eval")
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    batches = Batches(ds.test_images, ds.test_labels, args.batch_size, sequence, ds.stats, perm,
                      device=device)
    trained_on = ckpt.get("data", {}).get("fingerprint")
    other = (" (not the data it was trained on)" if trained_on and trained_on != ds.fingerprint
             else "")
    print(f"checkpoint: {args.checkpoint} (epoch {ckpt.get('epoch')}, trained on "
          f"{ckpt.get('dataset')}, backend {ckpt.get('backend')}); evaluated with backend "
          f"{args.backend or ckpt.get('backend')} on {device}")
    print(f"data: {ds.name} test split from {ds.source}{other}", flush=True)
    result = evaluate(model, with_progress(batches, "eval"))
    print(f"test accuracy: {100 * result['acc']:.2f}% ({len(ds.test_labels):,} samples), "
          f"loss {result['loss']:.4f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    print("      " + "".join(f"{c:>6}" for c in range(10)))
    for true, row in enumerate(result["confusion"]):
        print(f"{true:>6}" + "".join(f"{n:>6}" for n in row))
    return 0


def _cmd_inspect(args) -> int:
    from .classifier import LSTMClassifier
    from .params import format_parameters
    from .train import check_backend_device

    check_backend_device(args.backend, torch.device("cpu"))
    torch.manual_seed(args.seed)
    model = LSTMClassifier(args.input_size, args.hidden_size, args.num_classes, args.num_layers,
                           backend=args.backend)
    x = torch.randn(args.batch_size, args.seq_len, args.input_size)
    rnn_out, (hn, cn) = model.rnn(x)
    N, L, Q = x.shape
    K, D = args.num_layers, args.hidden_size
    print(f"How the LSTM works ({args.backend} backend): x [N x L x Q] -> rnn_out [N x L x D], "
          f"hn, cn [K x N x D]")
    print(f"x:[{N}x{L}x{Q}] => rnn_out:[{'x'.join(map(str, rnn_out.shape))}]")
    print(f"hn:[{'x'.join(map(str, hn.shape))}] cn:[{'x'.join(map(str, cn.shape))}]  "
          f"(K={K} layers, N={N}, D={D})")
    print(f"logits = lin(rnn_out[:, -1]): [{'x'.join(map(str, model(x).shape))}]")
    print()
    print(format_parameters(model))
    return 0


def _cmd_bench(args) -> int:
    from .bench import run

    run(args)
    return 0


def _cmd_gates(args) -> int:
    from .gates_report import gates_report

    gates_report(args.checkpoint, args.index, args.out, args.dataset, args.data_dir, args.download,
                 backend=args.backend, device=args.device)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``scratch-lstm`` with all subcommands (``parser.subparsers`` maps
    each command name to its parser)."""
    parser = argparse.ArgumentParser(
        prog="scratch-lstm", allow_abbrev=False,
        description="An LSTM from its gate equations, trained on sequence-MNIST.")
    sub = parser.add_subparsers(dest="command", required=True)
    parser.subparsers = {}

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description or help, allow_abbrev=False,
                           formatter_class=HelpFormatter)
        parser.subparsers[name] = p
        return p

    t = command("train", "train the classifier on sequence-MNIST",
                "Train the LSTM classifier on sequence-MNIST. The defaults train the seed "
                "configuration of the README's results: 10 epochs, Adam lr 1e-3 with cosine decay, "
                "batch 128, LSTM(28, 256, 2 layers).")
    _add_data_flags(t)
    t.add_argument("--sequence", choices=SEQUENCES, default="rows",
                   help="rows: 28 steps x 28 features; pixels: 784 x 1; permuted: 784 x 1 shuffled")
    t.add_argument("--permutation-seed", type=_seed, default=0, help="seed of the permuted pixel order")
    t.add_argument("--backend", choices=BACKENDS, default="scratch", help=BACKEND_HELP)
    t.add_argument("--hidden-size", type=_positive_int, default=256, help="LSTM hidden units per layer")
    t.add_argument("--num-layers", type=_positive_int, default=2, help="stacked LSTM layers")
    t.add_argument("--dropout", type=_probability, default=0.0,
                   help="dropout between LSTM layers (not after the last), in [0, 1]")
    t.add_argument("--epochs", type=_positive_int, default=10, help="epochs to train in all")
    t.add_argument("--batch-size", type=_positive_int, default=128, help="training batch size")
    t.add_argument("--lr", type=_positive_float, default=1e-3,
                   help="Adam's learning rate (peak of the schedule)")
    t.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                   help="learning rate: constant, or cosine decay to 0 over all steps of --epochs")
    t.add_argument("--grad-clip", type=_non_negative_float, default=0.0,
                   help="clip the gradient norm to this value (0: off)")
    t.add_argument("--seed", type=_seed, default=0, help="seed of the initial weights, shuffling and dropout")
    t.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: cuda, else mps, else cpu")
    t.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="dtype of the weights and the computation")
    t.add_argument("--train-subset", type=_positive_int, default=None, metavar="N",
                   help="train on the first N training samples only (default: all)")
    t.add_argument("--out", metavar="DIR",
                   help="run folder; never overwritten (default: a new runs/exp1, runs/exp2, ...)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt (same settings; --epochs may grow "
                        "with the constant schedule)")
    t.add_argument("--log-every", type=_non_negative_float, default=10.0,
                   help="seconds between progress lines when stderr is not a terminal (a terminal "
                        "gets progress bars); 0: one line per epoch")
    t.add_argument("--cuda-graph", choices=CUDA_GRAPH, default="auto",
                   help="on CUDA, record a training step once and replay it for every full batch: "
                        "auto: for --backend triton; on: for any backend; off: never")
    t.set_defaults(func=_cmd_train)

    e = command("eval", "accuracy and confusion matrix of a checkpoint on the test split")
    e.add_argument("--checkpoint", required=True,
                   help="a checkpoint of `scratch-lstm train` (last.pt or best.pt)")
    _add_data_flags(e, for_checkpoint=True)
    e.add_argument("--backend", choices=BACKENDS, default=None,
                   help="evaluate on this backend (default: the one it was trained with)")
    e.add_argument("--batch-size", type=_positive_int, default=1000, help="evaluation batch size")
    e.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: cuda, else mps, else cpu")
    e.set_defaults(func=_cmd_eval)

    i = command("inspect", "the seed's shape walk-through and parameter listing",
                "Run a random batch through an untrained classifier and print the shapes of every "
                "stage and the seed's parameter listing.")
    i.add_argument("--input-size", type=_positive_int, default=28, help="features per step (Q)")
    i.add_argument("--hidden-size", type=_positive_int, default=256, help="hidden units per layer (D)")
    i.add_argument("--num-layers", type=_positive_int, default=2, help="stacked layers (K)")
    i.add_argument("--num-classes", type=_positive_int, default=10, help="outputs of the Linear head")
    i.add_argument("--batch-size", type=_positive_int, default=2, help="sequences in the batch (N)")
    i.add_argument("--seq-len", type=_positive_int, default=20, help="steps per sequence (L)")
    i.add_argument("--backend", choices=BACKENDS, default="scratch", help=BACKEND_HELP)
    i.add_argument("--seed", type=_seed, default=0, help="seed of the weights and the random batch")
    i.set_defaults(func=_cmd_inspect)

    b = command("bench", "time the scratch LSTM against nn.LSTM (same weights)")
    from .bench import add_arguments

    add_arguments(b)
    b.set_defaults(func=_cmd_bench)

    g = command("gates", "gate heatmaps, trajectories and saturation for one test digit")
    g.add_argument("--checkpoint", required=True, help="a trained checkpoint (last.pt or best.pt)")
    g.add_argument("--index", type=_non_negative_int, default=0, help="which test image")
    g.add_argument("--out", required=True, metavar="DIR", help="folder for the PNGs and gates.json")
    g.add_argument("--backend", choices=BACKENDS, default="scratch",
                   help="the backend whose prediction is reported; the gates themselves are always "
                        "traced through the teaching path's lstm_step")
    g.add_argument("--device", choices=DEVICES, default="cpu",
                   help="device of the prediction (the traces run on the CPU)")
    _add_data_flags(g, for_checkpoint=True)
    g.set_defaults(func=_cmd_gates)
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse; an unknown flag is reported with the usage of its subcommand, and a close match."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = parser.subparsers[args.command]
        flags = [s for a in sub._actions for s in a.option_strings]
        hints = [f"{x} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(x.split("=")[0], flags, 1))
                 else x for x in extra]
        sub.error("unrecognized arguments: " + " ".join(hints))
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``scratch-lstm`` and ``python -m scratch_lstm``."""
    from .train import TrainingError

    args = _parse(argv)
    try:
        return args.func(args)
    except (DataError, TrainingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a vanished folder: the system's words, without a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the run folder keeps the last finished epoch (continue with --resume)",
              file=sys.stderr)
        return 130
