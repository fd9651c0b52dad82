"""Sequence-MNIST data: IDX files read and checked by hand, an embedded sample, sequence views.

Images stay ``uint8`` tensors in memory; :class:`Batches` normalises and reshapes one batch at a
time, so loading never dominates a CPU epoch.

Where files are looked for (first hit wins), for ``mnist`` (``fashion-mnist`` alike with
``FashionMNIST`` and Debian's ``/usr/share/datasets/fashion-mnist``)::

    DATA_DIR/MNIST/raw/<file>[.gz]     torchvision's layout
    DATA_DIR/<file>[.gz]               a folder that holds the four files itself
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DATASETS = ("auto", "mnist", "fashion-mnist", "mnist-sample")
SEQUENCES = ("rows", "pixels", "permuted")
# Training-set pixel statistics on the 0..1 scale (shared/data/README.md; Fashion-MNIST's docs).
STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")], "mnist": []}
SAMPLE_FILE = "mnist_sample.npz"


class DataError(Exception):
    """A data problem the user can fix; the message says what and how."""


def read_idx(path: str | os.PathLike, expected_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a ``uint8`` array, checking it on the way.

    Checks the magic number (``0x0000080{ndim}``, unsigned bytes), that there are
    ``expected_ndim`` dimensions, and that the payload holds exactly the declared count.
    Raises :class:`DataError` naming the file and the problem.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read or decompress ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes (magic number {raw[:4].hex() or 'missing'}, "
            "expected 0000080N)"
        )
    ndim = raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataError(f"{path}: has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    count = int(np.prod(shape))
    if len(raw) - header != count:
        raise DataError(
            f"{path}: truncated or padded: header declares shape {shape} ({count:,} bytes), "
            f"payload has {len(raw) - header:,} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@dataclass
class Dataset:
    """A loaded dataset: ``uint8`` images ``(N, 28, 28)``, ``int64`` labels, and where it came from."""

    name: str  # "mnist", "fashion-mnist" or "mnist-sample"
    source: str  # the folder or file it was read from
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor

    @property
    def stats(self) -> tuple[float, float]:
        """(mean, std) used to normalise: the full dataset's training statistics."""
        return STATS["fashion-mnist" if self.name == "fashion-mnist" else "mnist"]


def _candidate_dirs(name: str, data_dir: Path | None) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs += [data_dir / _FOLDER[name] / "raw", data_dir]
    return dirs + _SYSTEM_DIRS[name]


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(name: str, folder: Path) -> Dataset | None:
    """Load the four files from ``folder``; ``None`` if none is there, :class:`DataError` if some are."""
    found = {key: _find(folder, stem) for key, stem in FILES.items()}
    if not any(found.values()):
        return None
    missing = [FILES[k] for k, v in found.items() if v is None]
    if missing:
        raise DataError(f"{folder}: found some {name} files but not {', '.join(missing)} (.gz or not)")
    arrays = {k: read_idx(p, 3 if k.endswith("images") else 1) for k, p in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28):
            raise DataError(f"{found[split + '_images']}: images are {images.shape[1:]}, expected 28x28")
        if len(images) != len(labels):
            raise DataError(
                f"{folder}: {split} has {len(images):,} images but {len(labels):,} labels"
            )
        if labels.size and labels.max() > 9:
            raise DataError(f"{found[split + '_labels']}: label {labels.max()} out of range 0..9")
    return Dataset(
        name,
        str(folder),
        torch.from_numpy(arrays["train_images"].copy()),
        torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        torch.from_numpy(arrays["test_images"].copy()),
        torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    )


def _download(name: str, data_dir: Path) -> Dataset:
    import torchvision

    cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
    try:
        for train in (True, False):
            cls(root=str(data_dir), train=train, download=True)
    except Exception as e:  # network errors come in many types
        raise DataError(f"could not download {name} into {data_dir}: {e}") from None
    found = load_idx_folder(name, data_dir / _FOLDER[name] / "raw")
    if found is None:
        raise DataError(f"download of {name} into {data_dir} left no IDX files")
    return found


def load_sample() -> Dataset:
    """The embedded real-MNIST sample (stratified from the official splits; see ``scripts/``)."""
    with resources.files("scratch_lstm.sample").joinpath(SAMPLE_FILE).open("rb") as fh:
        z = np.load(fh)
        arrays = {k: z[k] for k in z.files}
    return Dataset(
        "mnist-sample",
        f"embedded sample ({len(arrays['train_labels']):,} train / "
        f"{len(arrays['test_labels']):,} test images)",
        torch.from_numpy(arrays["train_images"]),
        torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        torch.from_numpy(arrays["test_images"]),
        torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    )


def not_found_message(name: str, data_dir: Path | None) -> str:
    """What to do when ``name`` is neither local nor downloaded."""
    folder = _FOLDER[name]
    where = "\n".join(f"  {d}" for d in _candidate_dirs(name, data_dir)) or "  (no --data-dir given)"
    extra = (
        "\n  - or install Debian's package: apt-get install dataset-fashion-mnist"
        if name == "fashion-mnist" else ""
    )
    return (
        f"{name} not found. Looked in:\n{where}\n"
        f"It needs these four files (gzipped or not): {', '.join(FILES.values())}.\n"
        f"Either:\n"
        f"  - put them in DIR/{folder}/raw/ or directly in DIR, and pass --data-dir DIR\n"
        f"  - or pass --download (with internet) to fetch them through torchvision into --data-dir"
        f"{extra}\n"
        f"  - or use --dataset mnist-sample (or auto) to train on the small sample shipped inside "
        f"the package"
    )


def load_dataset(name: str = "auto", data_dir: str | os.PathLike | None = None,
                 download: bool = False) -> Dataset:
    """Load ``name`` (one of :data:`DATASETS`), reading local files before downloading.

    ``auto`` is full MNIST when it is local (or downloaded with ``download=True``), else the
    embedded sample. ``mnist`` and ``fashion-mnist`` never fall back. Nothing is ever written
    into a folder that is only read (downloads go to ``data_dir``).
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "mnist-sample":
        return load_sample()
    full = "mnist" if name == "auto" else name
    data_dir = Path(data_dir) if data_dir is not None else None
    for folder in _candidate_dirs(full, data_dir):
        found = load_idx_folder(full, folder)
        if found is not None:
            return found
    if download:
        if data_dir is None:
            raise DataError("--download needs --data-dir: the folder to download into")
        try:
            return _download(full, data_dir)
        except DataError:
            if name != "auto":
                raise
    if name == "auto":
        return load_sample()
    raise DataError(not_found_message(full, data_dir))


def sequence_view(images: Tensor, sequence: str = "rows", mean: float = 0.1307,
                  std: float = 0.3081, permutation: Tensor | None = None) -> Tensor:
    """Normalise ``uint8`` images ``(N, 28, 28)`` and read them as sequences.

    ``rows``: ``(N, 28, 28)``, 28 steps of one row each (the seed's view). ``pixels``:
    ``(N, 784, 1)``, one pixel per step (sequential MNIST). ``permuted``: ``(N, 784, 1)`` with the
    pixels in the order of ``permutation`` (psMNIST).
    """
    x = (images.float() / 255.0 - mean) / std  # (N, 28, 28)
    N = x.size(0)
    if sequence == "rows":
        return x
    if sequence == "pixels":
        return x.reshape(N, 784, 1)
    if sequence == "permuted":
        if permutation is None:
            raise ValueError("sequence 'permuted' needs a permutation (see pixel_permutation)")
        return x.reshape(N, 784)[:, permutation].unsqueeze(-1)
    raise ValueError(f"unknown sequence view {sequence!r}; choose one of {', '.join(SEQUENCES)}")


def pixel_permutation(seed: int = 0) -> Tensor:
    """The fixed pixel order of permuted sequential MNIST, determined by ``seed``."""
    return torch.randperm(784, generator=torch.Generator().manual_seed(seed))


class Batches:
    """Iterate ``(x, y)`` batches over ``uint8`` images, turning each batch into sequences.

    With ``shuffle``, the order comes from ``generator`` (so a run can be resumed exactly).
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, sequence: str = "rows",
                 stats: tuple[float, float] = STATS["mnist"], permutation: Tensor | None = None,
                 shuffle: bool = False, generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.sequence, self.stats = batch_size, sequence, stats
        self.permutation, self.shuffle, self.generator, self.device = (
            permutation, shuffle, generator, device)

    def __len__(self) -> int:
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            x = sequence_view(self.images[idx], self.sequence, *self.stats, self.permutation)
            yield x.to(self.device), self.labels[idx].to(self.device)
