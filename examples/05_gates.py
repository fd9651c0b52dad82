"""Example 5: the gates at work: traces and plots for one digit, before and after training.

Teaches: what i, f, g, o and the cell do while the LSTM reads a digit row by row, how they change
with training (saturation), and how to check c_t = f_t*c_{t-1} + i_t*g_t on real traces.
Trains a small model on the embedded sample first (about 20 seconds in all on a CPU; in a temporary
folder, deleted at the end), unless given a checkpoint from `scratch-lstm train`. Writes the
figures (gates_trained.png, gates_fresh.png, trajectory.png, change.png) and gates.json into --out.

    python examples/05_gates.py --out runs/gates-example
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
from scratch_lstm.app.evaluate import dataset_to_use
from scratch_lstm.app.gates_report import gates_report
from scratch_lstm.app.train import train

parser = argparse.ArgumentParser(description="gate traces and plots for one digit")
parser.add_argument("--checkpoint", help="a trained checkpoint; default: train a small one now")
parser.add_argument("--data-dir", default=None)
parser.add_argument("--index", type=int, default=0, help="which test digit")
parser.add_argument("--out", default="runs/gates-example", help="folder for the figures and gates.json")
parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
args = parser.parse_args()

with tempfile.TemporaryDirectory(prefix="scratch-lstm-gates-") as run:  # deleted at the end
    checkpoint = args.checkpoint
    if checkpoint is None:
        train(TrainConfig(dataset="mnist-sample", hidden_size=32 if args.fast else 64,
                          epochs=1 if args.fast else 3, batch_size=50, lr=3e-3,
                          train_subset=300 if args.fast else None, out=run, log_every=0))
        checkpoint = str(Path(run) / "last.pt")
        print("(that run folder is temporary: it is deleted when this script ends)")
    gates_report(checkpoint, args.index, args.out, data_dir=args.data_dir)  # its dataset
    ckpt = load_checkpoint(checkpoint)

# The equations, checked on the trained model's own traces:
model = model_from_checkpoint(ckpt).eval()
dataset, _ = dataset_to_use(ckpt, checkpoint, None, args.data_dir, False)  # the digit gates_report read
ds = load_dataset(dataset, args.data_dir)
sequence = ckpt.get("sequence", "rows")
perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
x = sequence_view(ds.test_images[args.index : args.index + 1], sequence, *ds.stats, perm)  # (1, T, Q)
with torch.no_grad():
    rec = trace_gates(model.rnn, x)[0]  # layer 0; tensors (1, T, H)
c_prev = torch.cat([torch.zeros_like(rec.c[:, :1]), rec.c[:, :-1]], dim=1)  # c_(t-1), c_(-1) = 0
err = (rec.c - (rec.f * c_prev + rec.i * rec.g)).abs().max().item()
print(f"layer 0: max |c_t - (f_t*c_(t-1) + i_t*g_t)| over {x.shape[1]} steps = {err:.1e}")
print(f"layer 0: mean forget gate {rec.f.mean():.3f}, mean input gate {rec.i.mean():.3f}")
