"""Regenerate the embedded MNIST sample (scratch_lstm/sample/mnist_sample.npz) from the full files.

A stratified draw: the same number of images of every digit, chosen at random (fixed seed) from
the official training split and from the official test split. Keeps the original indices.

    python scripts/make_mnist_sample.py --data-dir data   # a folder holding full MNIST
"""

import argparse
from pathlib import Path

import numpy as np

from scratch_lstm.app.data import SAMPLE_FILE, DataError, load_dataset


def stratified(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    picks = [rng.choice(np.flatnonzero(labels == d), per_class, replace=False) for d in range(10)]
    return np.sort(np.concatenate(picks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder holding full MNIST")
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                             / "scratch_lstm" / "sample" / SAMPLE_FILE))
    args = parser.parse_args()
    try:
        ds = load_dataset("mnist", args.data_dir)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    rng = np.random.default_rng(args.seed)
    tr = stratified(ds.train_labels.numpy(), args.train_per_class, rng)
    te = stratified(ds.test_labels.numpy(), args.test_per_class, rng)
    np.savez_compressed(
        args.out,
        train_images=ds.train_images.numpy()[tr], train_labels=ds.train_labels.numpy()[tr].astype(np.uint8),
        test_images=ds.test_images.numpy()[te], test_labels=ds.test_labels.numpy()[te].astype(np.uint8),
        train_indices=tr.astype(np.int32), test_indices=te.astype(np.int32),
    )
    print(f"wrote {args.out}: {len(tr)} train + {len(te)} test images "
          f"({Path(args.out).stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
