# %% [markdown]
# # Example 4: train the scratch LSTM on sequence-MNIST
#
# **Teaches:** the training loop, written out: each image read as 28 rows of 28 pixels, the
# model, Adam, the cross-entropy, backward (autograd through every lstm_step of every time step),
# the optimiser's step, and an evaluation on the test split after each epoch; then the lecture's
# own evaluation function on the trained model.
#
# **Know first:** examples 02 and 03; a PyTorch training loop.
#
# **Runs in** about 10 seconds on a CPU (measured at the end), as a script or as a notebook: the
# loop below, on the MNIST sample shipped in the package (5,000 training and 1,000 test images), a
# 2-layer LSTM with 64 hidden units for 3 epochs.
#
# The long version, as a script only: `--full` trains the lecture's configuration on full MNIST
# (pass `--data-dir`), 10 epochs, through the trainer of `scratch-lstm train` (the same loop, with
# a run folder, checkpoints, a learning-rate schedule and resuming): as long as
# `scratch-lstm train --data-dir data` (docs/training.md). Its run folder is temporary and deleted
# at the end; pass `--out DIR` to keep it.
#
#     python examples/04_train_sequence_mnist.py --threads 1
#     python examples/04_train_sequence_mnist.py --full --data-dir data --out runs/example-full --threads 1

# %%
import argparse
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F


def in_notebook() -> bool:
    """Whether this file runs as a notebook (in a Jupyter kernel, whose argv holds the kernel's own
    arguments, and where no __file__ is set)."""
    return "ipykernel" in sys.modules


# reference/ (the lecture's code) sits beside examples/ and notebooks/
here = Path.cwd() if in_notebook() else Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))

from reference.lecture_rnn import func_eval  # noqa: E402
from scratch_lstm import LSTMClassifier  # noqa: E402
from scratch_lstm.app.config import threads_line  # noqa: E402
from scratch_lstm.app.data import Batches, load_dataset  # noqa: E402
from scratch_lstm.app.flags import add_threads_flag  # noqa: E402
from scratch_lstm.exercises import check_initial_loss, check_train_step  # noqa: E402

# %%
parser = argparse.ArgumentParser(description="train the scratch LSTM on sequence-MNIST")
parser.add_argument("--full", action="store_true",
                    help="the lecture's configuration on full MNIST, through the app's trainer")
parser.add_argument("--data-dir", default=None, help="folder holding full MNIST (for --full)")
parser.add_argument("--out", default=None,
                    help="with --full: keep the run folder here (default: a temporary one, deleted)")
add_threads_flag(parser)
parser.add_argument("--fast", action="store_true", help="a few seconds, for smoke tests")
args = parser.parse_args([] if in_notebook() else None)  # a notebook runs with the defaults
if args.threads is not None:
    torch.set_num_threads(args.threads)

if args.full:  # the app's trainer: the same loop, with everything a long run needs
    from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint
    from scratch_lstm.app.config import TrainConfig
    from scratch_lstm.app.errors import DataError
    from scratch_lstm.app.train import train

    with tempfile.TemporaryDirectory(prefix="scratch-lstm-") as scratch:  # deleted at the end
        out = args.out or scratch
        fast = {"epochs": 1, "train_subset": 200, "hidden_size": 16} if args.fast else {}
        cfg = TrainConfig(**{"dataset": "mnist", "data_dir": args.data_dir, "epochs": 10, "schedule": "cosine",
                             "out": out, "threads": args.threads, **fast})
        try:
            train(cfg)
        except DataError as e:
            parser.exit(2, f"error: {e}\n")
        model = model_from_checkpoint(load_checkpoint(Path(out) / "last.pt"))
        ds = load_dataset(cfg.dataset, cfg.data_dir)
        test = Batches(ds.test_images, ds.test_labels, 1000, "rows", ds.stats)
        print(f"the lecture's func_eval on the test split: {100 * func_eval(model, test, 'cpu'):.2f}%")
        print(f"run folder kept: {out}" if args.out else "run folder deleted (pass --out DIR to keep it)")
    sys.exit(0)

# %% [markdown]
# ## The data
# uint8 images, turned into normalised (B, 28, 28) batches: B sequences of T = 28 steps (the
# rows) of I = 28 features (the pixels of a row).

# %%
torch.manual_seed(0)
ds = load_dataset("mnist-sample")
print(f"data: {ds.name} from the {ds.source}")
print(threads_line(args.threads))
n_train = 500 if args.fast else len(ds.train_labels)
train_batches = Batches(ds.train_images[:n_train], ds.train_labels[:n_train], batch_size=50, stats=ds.stats,
                        shuffle=True, generator=torch.Generator().manual_seed(0))
test_batches = Batches(ds.test_images, ds.test_labels, batch_size=1000, stats=ds.stats)

# %% [markdown]
# ## The training loop

# %%
model = LSTMClassifier(input_size=28, hidden_size=32 if args.fast else 64, num_classes=10, num_layers=2)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(1, (1 if args.fast else 3) + 1):
    model.train()
    for x, y in train_batches:  # x (B, T, I) = (50, 28, 28), y (B,) the digits
        logits = model(x)  # (B, 10): the LSTM over the 28 rows, a Linear on the last step's h_t
        loss = F.cross_entropy(logits, y)  # the mean over the batch of -log softmax(logits)[y]
        optimizer.zero_grad()
        loss.backward()  # dL/dθ for every parameter, back through all 28 steps
        optimizer.step()  # Adam's update of every parameter
    model.eval()  # evaluation: no dropout (none here), no gradients
    with torch.no_grad():
        correct = sum((model(x).argmax(dim=1) == y).sum().item() for x, y in test_batches)
    print(f"epoch {epoch}: last batch's loss {loss.item():.3f}, "
          f"test accuracy {100 * correct / len(ds.test_labels):.2f}%")

# %% [markdown]
# ## The lecture's own evaluation function, applied to the trained scratch model

# %%
print(f"the lecture's func_eval on the test split: {100 * func_eval(model, test_batches, 'cpu'):.2f}%")

# %% [markdown]
# ## Exercises
# **1.** Before the first step, an untrained classifier's logits are near 0. What cross-entropy
# does the first batch show? Give the number (then compare with a fresh model's loss).
#
# **2.** Write the body of the loop as a function, `train_step(model, optimizer, x, y) -> loss`:
# the loss, backward, the optimiser's step. The check runs it twice beside the loop above on
# copies of one small model and compares the weights.

# %%
initial_loss = None  # exercise 1: a number
my_train_step = None  # exercise 2: def my_train_step(model, optimizer, x, y): ...

# %%
print(check_initial_loss(initial_loss))
print(check_train_step(my_train_step))

# %% [markdown]
# ## Measured
# The default run took 6.3-6.7 s in two runs (2026-12-04) with `--threads 1` on a 2-core AMD EPYC
# with nothing else running (`python examples/04_train_sequence_mnist.py --threads 1`); `--full`
# about 20 minutes with `--threads 2` on the same machine (docs/training.md).
