"""The ``scratch-lstm`` command line: train, eval, inspect, bench, gates, gradient-flow, explore.

User mistakes (missing data, bad flags, unreadable checkpoints, unusable folders) end with one
``error:`` line (a not-found message adds what to do below it) and exit code 2, never a traceback;
so do a failed write (naming the file), memory that cannot be had and an output that cannot be
written (``> /dev/full``, a closed pipe). Ctrl-C, at any moment, is one ``error: interrupted.
...`` line that says what was kept, and exit code 130 (:mod:`~scratch_lstm.app.command`). Every
flag has a help text that shows its default; a mistyped flag prints the usage of the subcommand
it was given to; abbreviations of flags are not accepted.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from .. import __version__
from .._startup import parse_command_line
from ..classifier import BACKENDS
from ..precision import PRECISIONS
from . import command
from .config import CUDA_GRAPH, DEVICES, DTYPES, SCHEDULES
from .data import DATASETS, SEQUENCES
from .flags import (
    BACKEND_HELP,
    CLAMP_HELP,
    PLAIN_VALUES,
    HelpFormatter,
    accept_negative_numbers,
    add_init_flags,
    add_threads_flag,
    clamp,
    count,
    non_negative_float,
    non_negative_int,
    path,
    positive_float,
    positive_int,
    probability,
    seed,
)


def _add_data_flags(p: argparse.ArgumentParser, for_checkpoint: bool = False) -> None:
    if for_checkpoint:
        p.add_argument("--dataset", choices=DATASETS, default=None,
                       help="the test split to use (default: the dataset the checkpoint was trained on)")
    else:
        p.add_argument("--dataset", choices=DATASETS, default="auto",
                       help="auto: full MNIST from --data-dir (or downloaded), and without --data-dir "
                            "the embedded 6,000-image sample; mnist and fashion-mnist never fall back")
    p.add_argument("--data-dir", metavar="DIR", type=path,
                   help="folder with DIR/MNIST/raw/* (DIR/FashionMNIST/raw/*) or the four IDX files "
                        "themselves; only read. If given, the data must be there"
                        + (" (with a checkpoint of the embedded sample: full MNIST's test split "
                           "from there)" if for_checkpoint else ""))
    p.add_argument("--download", action="store_true",
                   help="download through torchvision into --data-dir if not found there")


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    settings = {k: v for k, v in vars(args).items() if k not in ("command", "func", "given")}
    train(TrainConfig(**settings), given=args.given)
    return 0


def _cmd_eval(args) -> int:
    from .evaluate import evaluate_checkpoint

    evaluate_checkpoint(args.checkpoint, args.backend, args.dataset, args.data_dir, args.download,
                        args.batch_size, args.device, threads=args.threads, clamps=args.clamp or ())
    return 0


def _cmd_inspect(args) -> int:
    from ..classifier import LSTMClassifier
    from ..gates import forgetting_times
    from ..params import format_parameters
    from .config import TrainConfig, check_backend_device, threads_line, use_threads
    from .limits import check_fits, lstm_classifier_parameters, overhead_bytes
    from .progress import plural

    check_backend_device(args.backend, torch.device("cpu"))
    init = TrainConfig(init=args.init, forget_bias=args.forget_bias, seed=args.seed,
                       chrono_t_max=args.chrono_t_max or (args.seq_len if args.init == "chrono" else None))
    init.validate()  # --init and its values, as `train` checks them
    B, T, I, H, K, C = (args.batch_size, args.seq_len, args.input_size, args.hidden_size,
                        args.num_layers, args.num_classes)
    check_fits(4 * (lstm_classifier_parameters(I, H, K, C) + B * T * I + 2 * B * T * K * H + B * C)
               + overhead_bytes(K, T, args.backend),
               f"--batch-size {B} --seq-len {T} --input-size {I} --hidden-size {H} --num-layers {K} "
               f"--num-classes {C} (the weights, the batch, h and c of every step, the logits, and "
               "what each layer and step keeps beside them)")
    before = use_threads(args.threads)
    try:
        print(threads_line(args.threads), flush=True)
        torch.manual_seed(args.seed)
        model = LSTMClassifier(I, H, C, K, backend=args.backend)
        init.apply_init(model)  # as `train` does, after the weights are drawn
        x = torch.randn(B, T, I)
        rnn_out, (hn, cn) = model.rnn(x)
        logits = model(x)
    finally:
        torch.set_num_threads(before)
    shape = lambda t: f"({', '.join(map(str, t.shape))})"  # noqa: E731
    print(f"How the LSTM works ({args.backend} backend): x (B, T, I) -> rnn_out (B, T, H), "
          f"hn, cn (K, B, H)  [the lecture writes N, L, Q, D for B, T, I, H]")
    print(f"x {shape(x)} -> rnn_out {shape(rnn_out)}")
    print(f"hn {shape(hn)}, cn {shape(cn)}  (K={plural(K, 'layer')}, B={B}, H={H})")
    print(f"logits = lin(rnn_out[:, -1]): {shape(logits)}  (B, {C} classes)")
    times = forgetting_times(model.rnn).flatten()
    print(f"init {init.init_text()}: the forget gates start at f = σ(b_if + b_hf), so a cell keeps "
          f"about 1/(1 - f) steps of memory: {times.min():.1f} .. {times.max():.1f} steps (median "
          f"{times.median():.1f}), for sequences of T = {T} steps")
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
                 backend=args.backend, device=args.device, threads=args.threads)
    return 0


def _cmd_gradient_flow(args) -> int:
    from .flow_report import gradient_flow_report

    gradient_flow_report(args)
    return 0


def _train_flags(t: argparse.ArgumentParser) -> None:
    from .resume import free_flags

    _add_data_flags(t)
    t.add_argument("--sequence", choices=SEQUENCES, default="rows",
                   help="rows: 28 steps x 28 features; pixels: 784 x 1; permuted: 784 x 1 shuffled")
    t.add_argument("--permutation-seed", type=seed, default=0, help="seed of the permuted pixel order")
    t.add_argument("--backend", choices=BACKENDS, default="scratch", help=BACKEND_HELP)
    t.add_argument("--hidden-size", type=positive_int, default=256, help="LSTM hidden units per layer")
    t.add_argument("--num-layers", type=positive_int, default=2, help="stacked LSTM layers")
    t.add_argument("--dropout", type=probability, default=0.0,
                   help="dropout between LSTM layers (not after the last), in [0, 1]")
    t.add_argument("--epochs", type=count, default=10, help="epochs to train in all")
    t.add_argument("--batch-size", type=positive_int, default=128,
                   help="training batch size: the global batch of a step, which several processes "
                        "started by torchrun share (each takes its part; docs/training.md)")
    t.add_argument("--lr", type=positive_float, default=1e-3,
                   help="Adam's learning rate (peak of the schedule)")
    t.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                   help="learning rate: constant, or cosine decay to 0 over all steps of --epochs")
    t.add_argument("--grad-clip", type=non_negative_float, default=0.0,
                   help="clip the gradient norm to this value (0: off)")
    t.add_argument("--seed", type=seed, default=0, help="seed of the initial weights, shuffling and dropout")
    add_init_flags(t)
    t.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: cuda, else mps, else cpu")
    t.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="dtype of the weights and the computation")
    t.add_argument("--train-subset", type=positive_int, default=None, metavar="N",
                   help="train on the first N training samples only (default: all)")
    t.add_argument("--out", metavar="DIR", type=path,
                   help="run folder; never overwritten, one process at a time (default: a new "
                        "runs/exp1, runs/exp2, ...)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt (where no epoch finished: from "
                        "its config.json), with the run's settings: flags given must agree, except "
                        f"{', '.join(free_flags())} (--epochs only to grow the constant schedule)")
    t.add_argument("--log-every", type=non_negative_float, default=10.0,
                   help="seconds between progress lines when stderr is not a terminal (a terminal "
                        "gets progress bars); 0: one line per epoch")
    t.add_argument("--cuda-graph", choices=CUDA_GRAPH, default="auto",
                   help="on CUDA, record a training step once and replay it for every full batch: "
                        "auto: for --backend triton; on: for any backend; off: never")
    t.add_argument("--precision", choices=PRECISIONS, default="ieee",
                   help="float32 matrix products on a CUDA GPU (cuBLAS, cuDNN, the triton kernels): "
                        "ieee: full fp32; tf32: TensorFloat-32 tensor cores (Ampere and later), "
                        "faster, about 1e-3 relative error; no effect on the CPU")
    add_threads_flag(t, "; recorded in config.json, free to change on --resume")


def _eval_flags(e: argparse.ArgumentParser) -> None:
    e.add_argument("--checkpoint", required=True,
                   help="a checkpoint of `scratch-lstm train` (last.pt or best.pt)")
    _add_data_flags(e, for_checkpoint=True)
    e.add_argument("--backend", choices=BACKENDS, default=None,
                   help="evaluate on this backend (default: the one it was trained with)")
    e.add_argument("--batch-size", type=positive_int, default=1000, help="evaluation batch size")
    e.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: cuda, else mps, else cpu")
    e.add_argument("--clamp", type=clamp, action="append", metavar="GATE=VALUE[@LAYER][:UNITS][/STEPS]",
                   help=CLAMP_HELP)
    add_threads_flag(e)


def _inspect_flags(i: argparse.ArgumentParser) -> None:
    i.add_argument("--input-size", type=positive_int, default=28, help="features per step (I)")
    i.add_argument("--hidden-size", type=positive_int, default=256, help="hidden units per layer (H)")
    i.add_argument("--num-layers", type=positive_int, default=2, help="stacked layers (K)")
    i.add_argument("--num-classes", type=positive_int, default=10, help="outputs of the Linear head")
    i.add_argument("--batch-size", type=positive_int, default=2, help="sequences in the batch (B)")
    i.add_argument("--seq-len", type=positive_int, default=20, help="steps per sequence (T)")
    i.add_argument("--backend", choices=BACKENDS, default="scratch", help=BACKEND_HELP)
    i.add_argument("--seed", type=seed, default=0, help="seed of the weights and the random batch")
    add_init_flags(i)
    add_threads_flag(i)


def _bench_flags(b: argparse.ArgumentParser) -> None:
    from .bench import add_arguments

    add_arguments(b)


def _gates_flags(g: argparse.ArgumentParser) -> None:
    g.add_argument("--checkpoint", required=True,
                   help="a trained checkpoint (last.pt or best.pt), e.g. runs/exp1/best.pt of a first "
                        "`scratch-lstm train` (the embedded sample: its test images are then used)")
    g.add_argument("--index", type=non_negative_int, default=0, help="which test image")
    g.add_argument("--out", required=True, metavar="DIR", type=path,
                   help="folder for the PNGs and gates.json")
    g.add_argument("--backend", choices=BACKENDS, default="scratch",
                   help="the backend whose prediction is reported; the gates themselves are always "
                        "traced through the teaching path's lstm_step")
    g.add_argument("--device", choices=DEVICES, default="cpu",
                   help="device of the prediction (the traces run on the CPU)")
    _add_data_flags(g, for_checkpoint=True)
    add_threads_flag(g)


def _gradient_flow_flags(g: argparse.ArgumentParser) -> None:
    from .flow_report import add_arguments

    add_arguments(g)
    _add_data_flags(g, for_checkpoint=True)


def _explore_flags(g: argparse.ArgumentParser) -> None:
    from .explorer.command import add_arguments

    add_arguments(g)
    _add_data_flags(g, for_checkpoint=True)
    add_threads_flag(g)


def _cmd_explore(args) -> int:
    from .explorer.command import explore_command

    explore_command(args)
    return 0


# name: (one-line help, description or None, the command's flags, what it runs)
COMMANDS = {
    "train": ("train the classifier on sequence-MNIST",
              "Train the LSTM classifier on sequence-MNIST. The defaults train the configuration "
              "of the lecture note this project grew from, as in the README's results: 10 epochs, "
              "Adam lr 1e-3 with cosine decay, batch 128, LSTM(28, 256, 2 layers).", _train_flags, _cmd_train),
    "eval": ("accuracy and confusion matrix of a checkpoint on the test split", None,
             _eval_flags, _cmd_eval),
    "inspect": ("the lecture's shape walk-through and parameter listing",
                "Run a random batch through an untrained classifier and print the shapes of every "
                "stage and the lecture's parameter listing.", _inspect_flags, _cmd_inspect),
    "bench": ("time the scratch LSTM against nn.LSTM (same weights)", None, _bench_flags, _cmd_bench),
    "gates": ("gate heatmaps, trajectories and saturation for one test digit", None,
              _gates_flags, _cmd_gates),
    "gradient-flow": ("how much of the loss's gradient reaches each time step, per --init",
                      "Measure dL/dc_t, dL/dh_t and the forget-gate product at every step of fresh "
                      "models (one per --init) or of checkpoints, on a batch of test images; write a "
                      "figure (log scale over t) and the numbers.", _gradient_flow_flags,
                      _cmd_gradient_flow),
    "explore": ("the gate explorer: one offline HTML page to step through a digit gate by gate",
                "Write one self-contained HTML page (no network, no server) in which a learner steps "
                "through test digits, reads every gate equation with its numbers, compares the "
                "trained model with its run's fresh start, and clamps gates.", _explore_flags, _cmd_explore),
}


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``scratch-lstm`` with all subcommands (``parser.subparsers`` maps
    each command name to its parser)."""
    parser = argparse.ArgumentParser(
        prog="scratch-lstm", allow_abbrev=False,
        description="An LSTM from its gate equations, trained on sequence-MNIST.")
    accept_negative_numbers(parser)
    parser.add_argument("--version", action="version", version=f"scratch-lstm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    parser.subparsers = {}
    for name, (help, description, add_flags, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=description or help, allow_abbrev=False,
                           formatter_class=HelpFormatter)
        accept_negative_numbers(p)
        add_flags(p)
        p.set_defaults(func=run)
        parser.subparsers[name] = p
    return parser


def help_texts(columns: int) -> dict[str, str]:
    """What ``--help`` prints on a terminal ``columns`` wide, by command (``""``: ``scratch-lstm
    --help``): the texts the start-up answers with before torch loads
    (:func:`scratch_lstm._startup.answer_help`; ``python scripts/make_help.py`` writes them)."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)  # argparse wraps to the terminal's width, read from here first
    try:
        parser = build_parser()
        return {"": parser.format_help(), **{name: p.format_help() for name, p in parser.subparsers.items()}}
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


# argparse's own classes of action, by the name the start-up rebuilds them with
_ACTION_KINDS = {argparse._StoreAction: "store", argparse._StoreTrueAction: "store_true",
                 argparse._StoreFalseAction: "store_false", argparse._StoreConstAction: "store_const",
                 argparse._AppendAction: "append", argparse._AppendConstAction: "append_const",
                 argparse._CountAction: "count", argparse._ExtendAction: "extend",
                 argparse._SubParsersAction: "subcommands"}


def _describe_parser(p: argparse.ArgumentParser) -> dict:
    """One parser's flags as :func:`argv_description` writes them."""
    def action(a: argparse.Action) -> dict:
        kind = _ACTION_KINDS.get(type(a), "other")  # other (--help, --version): the full parser's
        if getattr(a, "deprecated", False):  # a warning the copy would not give (Python 3.13 on)
            kind = "other"
        choices = None if a.choices is None else list(a.choices)
        if choices is not None and not all(isinstance(c, str) for c in choices):
            kind, choices = "other", [str(c) for c in choices]
        described = {"kind": kind, "options": a.option_strings, "dest": a.dest, "nargs": a.nargs,
                     "metavar": list(a.metavar) if isinstance(a.metavar, tuple) else a.metavar,
                     "choices": choices, "required": a.required, "shown": a.help != argparse.SUPPRESS,
                     "typed": a.type is not None,
                     "plain": None if a.choices is not None else PLAIN_VALUES.get(a.type),
                     "default": a.default if isinstance(a.default, str) else None}
        if kind == "subcommands":
            described["parsers"] = {name: _describe_parser(sub) for name, sub in a.choices.items()}
        return described

    matcher = p._negative_number_matcher
    usage_as_argparse = all(getattr(p.formatter_class, m) is getattr(argparse.HelpFormatter, m) for m in (
        "_format_usage", "_format_actions_usage", "_format_args", "_metavar_formatter"))
    rebuildable = (usage_as_argparse and not p._mutually_exclusive_groups and p.fromfile_prefix_chars is None
                   and p.exit_on_error and p.argument_default is None and p.usage is None)
    settings = {name: getattr(p, name) for name in ("allow_abbrev", "prefix_chars", "color", "suggest_on_error")
                if hasattr(p, name)}  # the last two: Python 3.14 on
    return {"prog": p.prog, "settings": settings,
            "negative_numbers": [matcher.pattern, matcher.flags], "rebuildable": rebuildable,
            "actions": [action(a) for a in p._actions]}


def argv_description() -> dict:
    """The command's parsers without their help texts: for every action its option strings, how
    many values it takes, its choices, whether it is required, and the form of value its type
    always accepts (:data:`~scratch_lstm.app.flags.PLAIN_VALUES`). The start-up rebuilds the
    parsers from it and answers an argument error before torch loads
    (:func:`scratch_lstm._startup.answer_argument_errors`; ``python scripts/make_help.py`` writes
    it)."""
    return {"python": "{}.{}".format(*sys.version_info[:2]), "parser": _describe_parser(build_parser())}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse as :func:`scratch_lstm._startup.parse_command_line` does (an unknown flag is reported
    with the usage of its subcommand, and a close match). ``args.given`` holds the names of the
    flags given on the command line (a ``--resume`` takes the others from the run)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_command_line(parser, parser.subparsers, argv)
    args.given = given_flags(parser.subparsers[args.command], argv[argv.index(args.command) + 1:])
    return args


class _Unset(list):
    """The marker of a flag not given: a list, so that an ``append`` flag (``--clamp``) can add
    to a copy of it (which is then no longer the marker itself)."""


_UNSET = _Unset()


def given_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the flags in ``argv`` that ``parser`` (a subcommand's) reads: argparse
    fills in a default only where the namespace has nothing yet, so what still holds a marker
    afterwards was not given."""
    dests = {a.dest for a in parser._actions if a.dest != argparse.SUPPRESS and a.option_strings}
    namespace = argparse.Namespace(**dict.fromkeys(dests, _UNSET))
    parser.parse_known_args(argv, namespace)
    return {d for d in dests if getattr(namespace, d) is not _UNSET}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``scratch-lstm`` and ``python -m scratch_lstm``: parse, run the command, and
    end as :mod:`~scratch_lstm.app.command` says (one ``error:`` line, exit codes 2 and 130)."""
    def body() -> int:
        args = _parse(argv)
        return args.func(args)

    return command.finish(command.run(body))
