# %% [markdown]
# # Example 5: the gates at work
#
# **Teaches:** what i, f, g, o and the cell do while the LSTM reads a digit row by row, how they
# change with training (saturation), and how to check c_t = f_t*c_{t-1} + i_t*g_t on real traces.
#
# **Know first:** the six gate equations (scratch_lstm/cell.py), example 04's training run, and
# scratch_lstm/gates.py (traces, the forget-gate initialisations).
#
# **Runs in** about 10 seconds on a CPU (measured at the end), as a script or as a notebook.
#
# It trains a small model on the embedded sample first (in a temporary folder, deleted at the end),
# unless given a checkpoint from `scratch-lstm train`: any of them, such as the one the first run
# on the embedded sample writes (runs/exp1/best.pt), or one trained on full MNIST. As a script it
# writes the figures (gates_trained.png, gates_fresh.png, trajectory.png, change.png) and
# gates.json into `--out`; as a notebook it shows the figures below, from a temporary folder.
#
#     python examples/05_gates.py --out runs/gates-example --threads 1
#     scratch-lstm train --threads 1 && python examples/05_gates.py --checkpoint runs/exp1/best.pt --out runs/gates-exp1
#     python examples/05_gates.py --checkpoint runs/mnist/best.pt --data-dir data --out runs/gates-mnist

# %%
import argparse
import io
import sys
import tempfile
from pathlib import Path

import torch

from scratch_lstm import trace_gates
from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint
from scratch_lstm.app.config import TrainConfig
from scratch_lstm.app.data import load_dataset, pixel_permutation, sequence_view
from scratch_lstm.app.flags import add_threads_flag
from scratch_lstm.app.gates_report import gates_report
from scratch_lstm.app.train import train
from scratch_lstm.exercises import CLAMP_O1_CHOICES, check_cifg_step, check_clamp_o1, check_forget_bias


def in_notebook() -> bool:
    """Whether this file runs as a notebook (in a Jupyter kernel, whose argv holds the kernel's own
    arguments)."""
    return "ipykernel" in sys.modules


def show(png: Path, scale: float = 0.5) -> None:
    """Show a figure the report wrote, in the notebook, at a modest resolution (the file keeps its own)."""
    from IPython.display import Image, display
    from PIL import Image as Picture  # matplotlib's own dependency

    picture = Picture.open(png).convert("RGB")
    small = picture.resize((round(picture.width * scale), round(picture.height * scale)), Picture.LANCZOS)
    buffer = io.BytesIO()
    small.quantize(colors=64).save(buffer, format="png", optimize=True)  # a palette: a small file
    display(Image(buffer.getvalue()))


# %%
parser = argparse.ArgumentParser(description="gate traces and plots for one digit")
parser.add_argument("--checkpoint", help="a checkpoint from scratch-lstm train; default: train a small one now")
parser.add_argument("--data-dir", default=None,
                    help="folder holding full MNIST (a checkpoint of the sample then reads full MNIST's test split)")
parser.add_argument("--index", type=int, default=0, help="which test digit")
parser.add_argument("--out", default="runs/gates-example", help="folder for the figures and gates.json")
add_threads_flag(parser)
parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
args = parser.parse_args([] if in_notebook() else None)  # a notebook runs with the defaults
if args.threads is not None:
    torch.set_num_threads(args.threads)

# %% [markdown]
# ## Train a small model, trace one digit, draw the gates
# The run folder is temporary; so, in a notebook, is the folder of the figures.

# %%
run = tempfile.TemporaryDirectory(prefix="scratch-lstm-gates-")  # deleted at the end
out = Path(run.name) / "figures" if in_notebook() else Path(args.out)
checkpoint = args.checkpoint
if checkpoint is None:
    train(TrainConfig(dataset="mnist-sample", hidden_size=32 if args.fast else 64,
                      epochs=1 if args.fast else 3, batch_size=50, lr=3e-3,
                      train_subset=300 if args.fast else None, out=str(Path(run.name) / "run"), log_every=0,
                      threads=args.threads))
    checkpoint = str(Path(run.name) / "run" / "last.pt")
    print("(that run folder is temporary: it is deleted when this script ends)")
report = gates_report(checkpoint, index=args.index, out=str(out), data_dir=args.data_dir, threads=args.threads)
ckpt = load_checkpoint(checkpoint)

# %% [markdown]
# Every gate and the cell of the trained model, time running down (the script also writes the
# fresh model's, gates_fresh.png).

# %%
if in_notebook():
    show(out / "gates_trained.png")

# %% [markdown]
# The trained h_t on its two principal components, and the gates' histograms, fresh against
# trained, with their saturation.

# %%
if in_notebook():
    show(out / "trajectory.png")
    show(out / "change.png")
run.cleanup()

# %% [markdown]
# ## The equations, checked on the trained model's own traces
# of the digit gates_report drew:

# %%
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

# %% [markdown]
# ## Exercises
# **1.** With no input, a unit's cell keeps σ(b_f)^t of its content after t steps: about
# 1/(1 - σ(b_f)) steps of memory, its forgetting time (`scratch_lstm.forgetting_times`). Which
# forget-gate bias b_f = b_if + b_hf gives a forgetting time of 100 steps?
#
# **2.** Write the CIFG step (coupled input and forget gate, Greff et al. 2017): the input gate is
# 1 - f_t, so what is forgotten is what is written; the weights keep nn.LSTM's four blocks of rows
# and the i rows go unused. `cifg_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh) -> (h, c)`; the
# check compares it with `scratch_lstm.variants.cifg_step`.
#
# **3.** Predict what holding every output gate open, `scratch-lstm eval --clamp o=1`, does to the
# lecture's model trained on full MNIST: choose a letter. (Then see docs/why-gates.md's lesion
# table, or run it on your own checkpoint.)

# %%
for letter, choice in CLAMP_O1_CHOICES.items():
    print(f"  {letter}) {choice}")
forget_bias = None  # exercise 1: a number
my_cifg_step = None  # exercise 2: def my_cifg_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh): ...
clamp_o1 = None  # exercise 3: "a", "b", "c" or "d"

# %%
print(check_forget_bias(forget_bias))
print(check_cifg_step(my_cifg_step))
print(check_clamp_o1(clamp_o1))

# %% [markdown]
# ## Measured
# The default run took 10.1-10.2 s in two runs (2026-12-04) with `--threads 1` on a 2-core
# AMD EPYC with nothing else running (`python examples/05_gates.py --out runs/gates-example --threads 1`).
