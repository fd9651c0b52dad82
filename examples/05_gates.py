"""Example 5: the gates at work: traces and plots for one digit, before and after training.

Teaches: what i, f, g, o and the cell do while the LSTM reads a digit row by row, how they change
with training (saturation), and how to check c_t = f_t*c_{t-1} + i_t*g_t on real traces.
Trains a small model on the embedded sample first (about 30 seconds on a CPU), unless given a
checkpoint from `scratch-lstm train`. Writes PNGs and gates.json into --out.

    python examples/05_gates.py --out runs/gates-example
    python examples/05_gates.py --checkpoint runs/mnist/best.pt --data-dir ../shared/data --out docs
"""

import argparse
import tempfile
from pathlib import Path

import torch

from scratch_lstm.data import load_dataset, sequence_view
from scratch_lstm.gates import trace_gates
from scratch_lstm.gates_report import gates_report
from scratch_lstm.train import TrainConfig, load_checkpoint, model_from_checkpoint, train

parser = argparse.ArgumentParser(description="gate traces and plots for one digit")
parser.add_argument("--checkpoint", help="a trained checkpoint; default: train a small one now")
parser.add_argument("--data-dir", default=None)
parser.add_argument("--index", type=int, default=0, help="which test digit")
parser.add_argument("--out", default="runs/gates-example")
parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
args = parser.parse_args()

checkpoint = args.checkpoint
if checkpoint is None:
    run = tempfile.mkdtemp(prefix="scratch-lstm-gates-")
    train(TrainConfig(dataset="mnist-sample", hidden_size=32 if args.fast else 64, epochs=1 if args.fast else 3,
                      batch_size=50, lr=3e-3, train_subset=300 if args.fast else None, out=run,
                      log_every=0))
    checkpoint = str(Path(run) / "last.pt")

result = gates_report(checkpoint, args.index, args.out, data_dir=args.data_dir)  # the checkpoint's dataset

# The equations, checked on the trained model's own traces:
ckpt = load_checkpoint(checkpoint)
model = model_from_checkpoint(ckpt).eval()
ds = load_dataset(ckpt["dataset"], args.data_dir)
x = sequence_view(ds.test_images[args.index : args.index + 1], "rows", *ds.stats)
with torch.no_grad():
    rec = trace_gates(model.rnn, x)[0]  # layer 0; tensors (1, 28, H)
c_prev = torch.cat([torch.zeros_like(rec.c[:, :1]), rec.c[:, :-1]], dim=1)
err = (rec.c - (rec.f * c_prev + rec.i * rec.g)).abs().max().item()
print(f"layer 0: max |c_t - (f_t*c_(t-1) + i_t*g_t)| over 28 steps = {err:.1e}")
print(f"layer 0: mean forget gate {rec.f.mean():.3f}, mean input gate {rec.i.mean():.3f}")
