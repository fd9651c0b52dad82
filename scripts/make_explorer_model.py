"""Regenerate the explorer's built-in model (scratch_lstm/app/explorer/sample_model.npz).

`scratch-lstm explore` without --checkpoint shows this model, so that a fresh install makes the
page with no download and no training. It is a small LSTM (2 layers of 64 units: 57,994
parameters, 230 KB in float32) trained on the embedded MNIST sample's 5,000 training images
with the settings below; the script trains it with `scratch-lstm train` in a temporary folder
and keeps the final weights (last.pt, not the epoch with the best test accuracy: the test
split is not used to choose) and what the page shows about the run (its settings, accuracy and
history). On the CPU with the same torch version and --threads 1 the run is repeatable.

    python scripts/make_explorer_model.py            # about a minute on one CPU thread
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from scratch_lstm.app.checkpoints import load_checkpoint
from scratch_lstm.app.explorer.page import SAMPLE_MODEL, SAMPLE_MODEL_KEYS
from scratch_lstm.app.train import TrainConfig, train

SETTINGS = dict(dataset="mnist-sample", hidden_size=64, num_layers=2, epochs=40, batch_size=64, lr=3e-3,
                schedule="cosine", seed=0, backend="fused", device="cpu", threads=1, log_every=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "scratch_lstm" / "app"
                                             / "explorer" / SAMPLE_MODEL),
                        help="the file to write (default: the package's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        train(TrainConfig(**SETTINGS, out=str(run)), progress=False)
        ckpt = load_checkpoint(run / "last.pt")
    meta = {key: ckpt[key] for key in SAMPLE_MODEL_KEYS}
    command = "scratch-lstm train " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in SETTINGS.items())
    meta["made_by"] = {"script": "scripts/make_explorer_model.py", "command": command,
                       "torch": torch.__version__}
    weights = {name: t.detach().float().numpy() for name, t in ckpt["model"].items()}
    np.savez_compressed(args.out, meta=np.array(json.dumps(meta)), **weights)
    acc = ckpt["history"][-1]["test_acc"]
    print(f"wrote {args.out} ({Path(args.out).stat().st_size:,} bytes): test accuracy on the sample "
          f"{100 * acc:.2f}% after {ckpt['epoch']} epochs", file=sys.stderr)


if __name__ == "__main__":
    main()
