"""Example 5: the gates at work: traces and plots for one digit, before and after training.

Teaches: what i, f, g, o and the cell do while the LSTM reads a digit row by row, how they change
with training (saturation), and how to check c_t = f_t*c_{t-1} + i_t*g_t on real traces.
Trains a small model on the embedded sample first (in a temporary folder, deleted at the end),
unless given a checkpoint from `scratch-lstm train`: any of them, such as the one the first run on
the embedded sample writes (runs/exp1/best.pt), or one trained on full MNIST. Writes the figures
(gates_trained.png, gates_fresh.png, trajectory.png, change.png) and gates.json into --out.
Runs in about 10 seconds (10.1-10.2 s in two runs, 2026-12-04) with --threads 1 on a 2-core AMD EPYC with
nothing else running.

    python examples/05_gates.py --out runs/gates-example --threads 1
    scratch-lstm train --threads 1 && python examples/05_gates.py --checkpoint runs/exp1/best.pt --out runs/gates-exp1
    python examples/05_gates.py --checkpoint runs/mnist/best.pt --data-dir data --out runs/gates-mnist
"""

import argparse
import tempfile
from pathlib import Path

import torch

from scratch_lstm import trace_gates
from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint
from scratch_lstm.app.config import TrainConfig
from scratch_lstm.app.data import load_dataset, pixel_permutation, sequence_view
from scratch_lstm.app.gates_report import gates_report
from scratch_lstm.app.train import train

parser = argparse.ArgumentParser(description="gate traces and plots for one digit")
parser.add_argument("--checkpoint", help="a checkpoint from scratch-lstm train; default: train a small one now")
parser.add_argument("--data-dir", default=None,
                    help="folder holding full MNIST (a checkpoint of the sample then reads full MNIST's test split)")
parser.add_argument("--index", type=int, default=0, help="which test digit")
parser.add_argument("--out", default="runs/gates-example", help="folder for the figures and gates.json")
parser.add_argument("--threads", type=int, default=None,
                    help="CPU threads torch may use (torch.set_num_threads; default: torch's choice)")
parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
args = parser.parse_args()
if args.threads is not None:
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)

with tempfile.TemporaryDirectory(prefix="scratch-lstm-gates-") as run:  # deleted at the end
    checkpoint = args.checkpoint
    if checkpoint is None:
        train(TrainConfig(dataset="mnist-sample", hidden_size=32 if args.fast else 64,
                          epochs=1 if args.fast else 3, batch_size=50, lr=3e-3,
                          train_subset=300 if args.fast else None, out=run, log_every=0,
                          threads=args.threads))
        checkpoint = str(Path(run) / "last.pt")
        print("(that run folder is temporary: it is deleted when this script ends)")
    report = gates_report(checkpoint, index=args.index, out=args.out, data_dir=args.data_dir)
    ckpt = load_checkpoint(checkpoint)

# The equations, checked on the trained model's own traces of the digit gates_report drew:
model = model_from_checkpoint(ckpt).eval()
sample = report["dataset"] == "mnist-sample"  # the embedded sample is read from the package
ds = load_dataset(report["dataset"], data_dir=None if sample else args.data_dir)
sequence = ckpt["sequence"]  # how the run read an image: "rows", "pixels" or "permuted"
perm = pixel_permutation(seed=ckpt["permutation_seed"]) if sequence == "permuted" else None
mean, std = ds.stats
x = sequence_view(ds.test_images[args.index : args.index + 1], sequence=sequence, mean=mean, std=std,
                  permutation=perm)  # (1, T, I)
with torch.no_grad():
    rec = trace_gates(model.rnn, x)[0]  # layer 0; tensors (1, T, H)
c_prev = torch.cat([torch.zeros_like(rec.c[:, :1]), rec.c[:, :-1]], dim=1)  # c_(t-1), c_(-1) = 0
err = (rec.c - (rec.f * c_prev + rec.i * rec.g)).abs().max().item()
print(f"layer 0: max |c_t - (f_t*c_(t-1) + i_t*g_t)| over {x.shape[1]} steps = {err:.1e}")
print(f"layer 0: mean forget gate {rec.f.mean():.3f}, mean input gate {rec.i.mean():.3f}")
