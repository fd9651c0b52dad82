"""Train the classifier on every backend from the same initialisation and batches; print the
losses of the first steps side by side.

With float64 the curves agree to many digits: the backends compute the same function and the same
gradients, only the summation order differs.

    python benchmarks/same_loss_curve.py --steps 20 --dtype float64                  # the embedded sample
    python benchmarks/same_loss_curve.py --steps 20 --dtype float64 --data-dir data  # your MNIST folder
    python benchmarks/same_loss_curve.py --steps 20 --threads 1   # on a busy machine
    python benchmarks/same_loss_curve.py --steps 10 --json same_loss_curve.json   # and keep the numbers
"""

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from scratch_lstm import LSTMClassifier
from scratch_lstm.app.config import threads_line, use_threads
from scratch_lstm.app.data import Batches, load_dataset
from scratch_lstm.app.files import read_text, save_json
from scratch_lstm.app.flags import HelpFormatter, add_threads_flag, positive_int
from scratch_lstm.app.limits import cpu_name
from scratch_lstm.app.progress import plural
from scratch_lstm.classifier import BACKENDS
from scratch_lstm.impls import unavailable_reason


def runnable_backends() -> list[str]:
    """The backends that run on the CPU here: all but triton, unless TRITON_INTERPRET=1."""
    return [b for b in BACKENDS if unavailable_reason(b, torch.device("cpu")) is None]


def loss_curves(steps: int, dtype: torch.dtype, data_dir=None, seed: int = 0, batch_size: int = 128,
                hidden_size: int = 256, num_layers: int = 2) -> dict[str, list[float]]:
    """Per-backend training losses of the first ``steps`` Adam steps (lr 1e-3), same init and data."""
    ds = load_dataset("auto", data_dir)
    curves = {}
    for backend in runnable_backends():
        torch.manual_seed(seed)
        model = LSTMClassifier(hidden_size=hidden_size, num_layers=num_layers, backend=backend, dtype=dtype)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        batches = Batches(ds.train_images, ds.train_labels, batch_size, stats=ds.stats, shuffle=True,
                          generator=torch.Generator().manual_seed(seed))
        losses = []
        for (x, y), _ in zip(batches, range(steps)):
            loss = F.cross_entropy(model(x.to(dtype)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        curves[backend] = losses
    return curves


def json_target_error(target: str) -> str | None:
    """Why ``--json target`` cannot be written, or None: a folder, a missing folder, or an existing
    file that is not this script's own earlier output (it is left alone)."""
    file = Path(target)
    if file.is_dir():
        return f"--json {target} is a folder; give a file name, e.g. {file / 'same_loss_curve.json'}"
    if not file.resolve().parent.is_dir():
        return f"--json {target}: folder {file.resolve().parent} does not exist"
    if file.exists():
        try:
            ours = "curves" in json.loads(read_text(file))
        except (OSError, ValueError, TypeError):
            ours = False
        if not ours:
            return (f"--json {target} exists and is not this script's earlier output; it is left alone: "
                    "choose another file")
    return None


def main(argv=None) -> int:
    """Print the loss curves side by side and the largest difference between scratch and torch;
    with ``--json FILE`` also write them, with the command, date, CPU and torch version."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     formatter_class=HelpFormatter, allow_abbrev=False)
    parser.add_argument("--steps", type=positive_int, default=20, help="Adam steps (batches) to train")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                        help="dtype of every backend's weights and computation")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder with MNIST (DIR/MNIST/raw/* or the four IDX files); default: "
                             "the embedded sample")
    parser.add_argument("--hidden-size", type=positive_int, default=256, help="LSTM hidden units per layer")
    parser.add_argument("--num-layers", type=positive_int, default=2, help="stacked LSTM layers")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the curves and the largest difference as JSON (a new file, or "
                             "one this script wrote before)")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    if args.json and (error := json_target_error(args.json)):
        parser.error(error)
    before = use_threads(args.threads)
    print(threads_line(args.threads), flush=True)
    try:
        curves = loss_curves(args.steps, getattr(torch, args.dtype), args.data_dir,
                             hidden_size=args.hidden_size, num_layers=args.num_layers)
    finally:
        torch.set_num_threads(before)
    if "triton" not in curves:
        print("(triton runs its kernels on a CUDA GPU; TRITON_INTERPRET=1 adds it here, slowly)")
    print(f"{'step':>4}  " + "  ".join(f"{b:>20}" for b in curves) + "   max |scratch - torch|")
    for k in range(args.steps):
        row = [curves[b][k] for b in curves]
        print(f"{k + 1:>4}  " + "  ".join(f"{v:>20.15f}" for v in row)
              + f"   {abs(curves['scratch'][k] - curves['torch'][k]):.1e}")
    worst = max(abs(a - b) for a, b in zip(curves["scratch"], curves["torch"]))
    print(f"largest difference over {plural(args.steps, 'step')} ({args.dtype}): {worst:.1e}")
    if args.json:
        command = " ".join(["python benchmarks/same_loss_curve.py", *(argv if argv is not None else sys.argv[1:])])
        save_json(Path(args.json), {
            "command": command, "date": date.today().isoformat(), "cpu": cpu_name(), "cores": os.cpu_count(),
            "threads": torch.get_num_threads() if args.threads is None else args.threads,
            "torch": torch.__version__, "dtype": args.dtype, "steps": args.steps, "curves": curves,
            "largest_difference": worst})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
