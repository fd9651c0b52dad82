"""The ``scratch-lstm`` command line: train, eval, inspect, bench, gates.

User mistakes (missing data, bad flags, unreadable checkpoints) end with one ``error:`` line and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

import torch

from .classifier import BACKENDS
from .data import DATASETS, SEQUENCES, DataError


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _add_data_flags(p: argparse.ArgumentParser, for_checkpoint: bool = False) -> None:
    help_default = "the dataset the checkpoint was trained on" if for_checkpoint else "%(default)s"
    p.add_argument("--dataset", choices=DATASETS, default=None if for_checkpoint else "auto",
                   help="auto: full MNIST if found (or downloaded), else the embedded sample; "
                        f"mnist and fashion-mnist never fall back (default: {help_default})")
    p.add_argument("--data-dir", help="folder with DIR/MNIST/raw/* or the four IDX files itself")
    p.add_argument("--download", action="store_true",
                   help="download through torchvision into --data-dir if not found locally")


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k not in ("command", "func")})
    train(cfg)
    return 0


def _cmd_eval(args) -> int:
    from .data import Batches, load_dataset, pixel_permutation
    from .train import evaluate, load_checkpoint, model_from_checkpoint, resolve_device

    ckpt = load_checkpoint(args.checkpoint)
    device = resolve_device(args.device)
    model = model_from_checkpoint(ckpt, args.backend, device)
    ds = load_dataset(args.dataset or ckpt.get("dataset", "auto"), args.data_dir, args.download)
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    batches = Batches(ds.test_images, ds.test_labels, args.batch_size, sequence, ds.stats, perm,
                      device=device)
    result = evaluate(model, batches)
    print(f"checkpoint: {args.checkpoint} (epoch {ckpt.get('epoch')}, trained on "
          f"{ckpt.get('dataset')}, backend {ckpt.get('backend')}); evaluated with backend "
          f"{args.backend or ckpt.get('backend')} on {device}")
    print(f"data: {ds.name} test split from {ds.source}")
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


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``scratch-lstm`` with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="scratch-lstm",
        description="An LSTM from its gate equations, trained on sequence-MNIST.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the classifier on sequence-MNIST",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_data_flags(t)
    t.add_argument("--sequence", choices=SEQUENCES, default="rows",
                   help="rows: 28 steps x 28 features; pixels: 784 x 1; permuted: 784 x 1 shuffled")
    t.add_argument("--permutation-seed", type=int, default=0, help="seed of the permuted pixel order")
    t.add_argument("--backend", choices=BACKENDS, default="scratch",
                   help="scratch: the gate equations; fused: the fast path; torch: nn.LSTM")
    t.add_argument("--hidden-size", type=_positive_int, default=256)
    t.add_argument("--num-layers", type=_positive_int, default=2)
    t.add_argument("--dropout", type=_non_negative_float, default=0.0)
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--lr", type=_non_negative_float, default=1e-3)
    t.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                   help="learning rate: constant, or cosine decay to 0 over all steps")
    t.add_argument("--grad-clip", type=_non_negative_float, default=0.0,
                   help="clip the gradient norm to this value (0: off)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--train-subset", type=_positive_int, default=None, metavar="N",
                   help="train on the first N training samples only")
    t.add_argument("--out", default="runs/latest", help="run folder")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    t.add_argument("--log-every", type=_non_negative_float, default=10.0,
                   help="seconds between progress lines (0: only per epoch)")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="accuracy and confusion matrix of a checkpoint on the test split")
    e.add_argument("--checkpoint", required=True)
    _add_data_flags(e, for_checkpoint=True)
    e.add_argument("--backend", choices=BACKENDS, default=None,
                   help="evaluate on this backend (default: the one it was trained with)")
    e.add_argument("--batch-size", type=_positive_int, default=1000)
    e.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    e.set_defaults(func=_cmd_eval)

    i = sub.add_parser("inspect", help="the seed's shape walk-through and parameter listing",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    i.add_argument("--input-size", type=_positive_int, default=28)
    i.add_argument("--hidden-size", type=_positive_int, default=256)
    i.add_argument("--num-layers", type=_positive_int, default=2)
    i.add_argument("--num-classes", type=_positive_int, default=10)
    i.add_argument("--batch-size", type=_positive_int, default=2)
    i.add_argument("--seq-len", type=_positive_int, default=20)
    i.add_argument("--backend", choices=BACKENDS, default="scratch")
    i.add_argument("--seed", type=int, default=0)
    i.set_defaults(func=_cmd_inspect)

    b = sub.add_parser("bench", help="time the scratch LSTM against nn.LSTM (same weights)")
    from .bench import add_arguments

    add_arguments(b)
    b.set_defaults(func=_cmd_bench)

    g = sub.add_parser("gates", help="gate heatmaps, trajectories and saturation for one test digit")
    g.add_argument("--checkpoint", required=True, help="a trained checkpoint (last.pt or best.pt)")
    g.add_argument("--index", type=int, default=0, help="which test image (default: %(default)s)")
    g.add_argument("--out", required=True, help="folder for the PNGs and gates.json")
    _add_data_flags(g, for_checkpoint=True)
    g.set_defaults(func=_cmd_gates)
    return parser


def _cmd_bench(args) -> int:
    from .bench import run

    run(args)
    return 0


def _cmd_gates(args) -> int:
    from .gates_report import gates_report

    gates_report(args.checkpoint, args.index, args.out, args.dataset, args.data_dir, args.download)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``scratch-lstm`` and ``python -m scratch_lstm``."""
    from .train import TrainingError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, TrainingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the run folder keeps the last finished epoch (use --resume)",
              file=sys.stderr)
        return 130
