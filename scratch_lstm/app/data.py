"""Sequence-MNIST data: IDX files read and checked by hand, an embedded sample, sequence views.

Images stay ``uint8`` tensors in memory; :class:`Batches` normalises and reshapes one batch at a
time, so loading never dominates a CPU epoch.

Where files are looked for (first hit wins), for ``mnist`` (``fashion-mnist`` alike with
``FashionMNIST``)::

    DATA_DIR/MNIST/raw/<file>[.gz]     torchvision's layout
    DATA_DIR/<file>[.gz]               a folder that holds the four files itself

A ``data_dir`` that was given and holds no dataset is an error; only without one does
``fashion-mnist`` look in Debian's ``/usr/share/datasets/fashion-mnist`` and ``auto`` fall back to
the embedded sample. Every loaded dataset carries a content fingerprint (sha256 of its decoded
files), so a run can tell which data it trained on, and files whose content is the other known
dataset's (MNIST and Fashion-MNIST share file names) are refused.
"""

from __future__ import annotations

import contextlib
import difflib
import gzip
import hashlib
import io
import math
import os
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import DataError, one_line
from .files import NotRegularFile, fault_point, file_kind, open_regular, raise_if_interrupted
from .limits import fmt_bytes, memory_limit

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DATASETS = ("auto", "mnist", "fashion-mnist", "mnist-sample")
SEQUENCES = ("rows", "pixels", "permuted")
# Training-set pixel statistics on the 0..1 scale (MNIST's 60,000 training images; Fashion-MNIST's docs).
STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_SYSTEM_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")], "mnist": []}
SAMPLE_FILE = "mnist_sample.npz"
# sha256 of each decompressed file (IDX header + payload, as `zcat FILE.gz | sha256sum` prints):
# MNIST's four original files (LeCun, Cortes and Burges; the ones torchvision downloads, decoded),
# Fashion-MNIST as Debian's dataset-fashion-mnist ships it. Hashes of the decoded content hold
# whatever the compression; the .gz MD5s that torchvision lists do not (a re-compressed copy
# has other bytes but the same content).
PUBLISHED_SHA256 = {
    "mnist": {
        "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}


READ_CHUNK = 2**24  # the payload is read in pieces of at most 16 MiB, never all at once
DRAIN_LIMIT = 2**24  # after a bad header or size, at most this much more is decompressed


def read_idx(path: str | os.PathLike, expected_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a ``uint8`` array, checking it on the way.

    The header comes first: the magic number (``0x0000080{ndim}``, unsigned bytes), that there are
    ``expected_ndim`` dimensions, and the size the dimensions declare, which must fit in this
    machine's memory and, for an uncompressed file, equal what the file holds; only then is the
    payload read, in pieces of at most :data:`READ_CHUNK` bytes up to the declared size (a header
    that declares more than the file holds costs only what it holds), and it must hold exactly
    the declared count: a byte past it is refused at once. A folder, a FIFO or a device is refused
    before anything is read. Raises :class:`DataError` naming the file and the problem.
    """
    path = Path(path)
    try:
        with open_regular(path) as file:
            gz = file.read(2) == b"\x1f\x8b"
            file.seek(0)
            fh = gzip.GzipFile(fileobj=file, mode="rb") if gz else file
            try:
                payload, shape = _read_checked(path, fh, file, gz, expected_ndim)
            except DataError:
                if gz:  # a corrupt deflate stream decodes to garbage first: that is the cause
                    _read_up_to(fh, DRAIN_LIMIT)
                raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except NotRegularFile as e:
        raise DataError(f"{path} is {e.kind}, not an IDX file (a regular file, gzipped or not)") from None
    except MemoryError:
        raise DataError(f"{path}: not enough memory to hold its payload (free some memory, or raise "
                        "the limit: ulimit -v)") from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read or decompress ({type(e).__name__}: {e})") from None
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _read_up_to(fh, count: int) -> bytearray:
    """At most ``count`` bytes of ``fh``, read in pieces of at most :data:`READ_CHUNK` (fewer at the
    end of the file); a Ctrl-C between pieces stops the read."""
    data = bytearray()
    while len(data) < count:
        piece = fh.read(min(READ_CHUNK, count - len(data)))
        if not piece:
            break
        data += piece
        raise_if_interrupted()
    return data


def _read_checked(path: Path, fh, file, gz: bool, expected_ndim: int | None):
    """``(payload bytes, shape)`` of an open IDX file, the header checked before the payload is read."""
    shape, header = _idx_header(path, fh, expected_ndim)
    count = math.prod(shape)  # exact: a crafted header cannot overflow it
    if not gz:
        _check_payload(path, shape, count, os.fstat(file.fileno()).st_size - header)
    limit, source = memory_limit()
    if count > limit:
        raise DataError(f"{path}: header declares shape {shape} ({count:,} bytes), more than "
                        f"this machine can hold ({source}: {fmt_bytes(limit)})")
    payload = _read_up_to(fh, count)
    if len(payload) < count:
        _check_payload(path, shape, count, len(payload))
    if fh.read(1):
        _check_payload(path, shape, count, None)
    return payload, shape


def _idx_header(path: Path, fh, expected_ndim: int | None) -> tuple[tuple[int, ...], int]:
    """The shape an IDX header declares, and the header's length in bytes."""
    magic = fh.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 0x08:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes (magic number {magic.hex() or 'missing'}, "
            "expected 0000080N)"
        )
    ndim = magic[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataError(f"{path}: has {ndim} dimensions, expected {expected_ndim}")
    dims = fh.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated header")
    return tuple(int.from_bytes(dims[4 * k : 4 * k + 4], "big") for k in range(ndim)), 4 + 4 * ndim


def _check_payload(path: Path, shape: tuple, count: int, found: int | None) -> None:
    """:class:`DataError` unless the payload's ``found`` bytes (None: more than ``count``) are
    exactly the ``count`` the header declares."""
    if found == count:
        return
    has = f"more than {count:,}" if found is None else f"{found:,}"
    raise DataError(f"{path}: truncated or padded: header declares shape {shape} ({count:,} bytes), "
                    f"payload has {has} bytes")


def idx_sha256(array: np.ndarray) -> str:
    """sha256 of ``array`` (``uint8``) written as an IDX file: equals ``sha256sum`` of the decoded file."""
    h = hashlib.sha256(bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape))
    h.update(np.ascontiguousarray(array, dtype=np.uint8).data)  # no copy
    return h.hexdigest()


def fingerprint(hashes: dict[str, str]) -> str:
    """One sha256 for a dataset, from the :func:`idx_sha256` of its four arrays (keys of :data:`FILES`)."""
    return hashlib.sha256("".join(f"{k}={hashes[k]}\n" for k in FILES).encode()).hexdigest()


@dataclass
class Dataset:
    """A loaded dataset: ``uint8`` images ``(N, 28, 28)``, ``int64`` labels, and where it came from."""

    name: str  # "mnist", "fashion-mnist" or "mnist-sample"
    source: str  # the folder or file it was read from
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    fingerprint: str = ""  # sha256 over the four arrays' content (see :func:`fingerprint`)
    published: bool = False  # the content is the published dataset ``name`` (or the shipped sample)

    def record(self) -> dict:
        """What a checkpoint and a summary record of the data: name, fingerprint, source."""
        return {"name": self.name, "fingerprint": self.fingerprint, "source": self.source,
                "published": self.published}

    @property
    def stats(self) -> tuple[float, float]:
        """(mean, std) used to normalise: the full dataset's training statistics."""
        return STATS["fashion-mnist" if self.name == "fashion-mnist" else "mnist"]


def _candidate_dirs(name: str, data_dir: Path | None) -> list[Path]:
    if data_dir is not None:
        return [data_dir / _FOLDER[name] / "raw", data_dir]
    return _SYSTEM_DIRS[name]


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _not_a_file(folder: Path, stem: str) -> str | None:
    """Where ``folder`` has something named like the IDX file ``stem`` that is not a regular file
    (a folder, a FIFO, a dangling link): what it is, for the message; else None."""
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file() or not (candidate.exists() or candidate.is_symlink()):
            continue
        try:
            kind = file_kind(os.stat(candidate).st_mode)
        except OSError:
            kind = f"a link to {os.readlink(candidate)}, which does not exist"
        return f"{candidate} is {kind}, not an IDX file (a regular file, gzipped or not)"
    return None


def load_idx_folder(name: str, folder: Path) -> Dataset | None:
    """Load the four files from ``folder``; ``None`` if none is there, :class:`DataError` if some are,
    or if something there has an IDX file's name but is not a file."""
    found = {key: _find(folder, stem) for key, stem in FILES.items()}
    for key, path in found.items():
        odd = None if path is not None else _not_a_file(folder, FILES[key])
        if odd:
            raise DataError(odd)
    if not any(found.values()):
        return None
    missing = [FILES[k] for k, v in found.items() if v is None]
    if missing:
        raise DataError(f"{folder}: found some {name} files but not {', '.join(missing)} (.gz or not)")
    arrays = {k: read_idx(p, 3 if k.endswith("images") else 1) for k, p in found.items()}
    hashes = {k: idx_sha256(a) for k, a in arrays.items()}
    for key, h in hashes.items():
        for other, published in PUBLISHED_SHA256.items():
            if other != name and published[key] == h:
                raise DataError(
                    f"{found[key]} is the published {other} file, not {name} (MNIST and Fashion-MNIST "
                    f"share file names; the content tells them apart): pass --dataset {other}, "
                    f"or a --data-dir that holds {name}")
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) == 0:
            raise DataError(f"{found[split + '_images']}: holds no images (its header says 0); "
                            f"the {split} split needs at least one")
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
        fingerprint(hashes),
        all(PUBLISHED_SHA256[name][k] == h for k, h in hashes.items()),
    )


def _download(name: str, data_dir: Path) -> Dataset:
    """Download ``name`` through torchvision into ``data_dir``. torchvision's own lines are kept
    quiet; a failure is one :class:`DataError` line, and leaves ``data_dir`` as it was: every file
    and folder the attempt created is removed (none that existed before)."""
    import torchvision

    cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
    anchor = data_dir  # the deepest folder that exists already: nothing above it is touched
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    before = set(_tree(anchor, data_dir))
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for train in (True, False):
                cls(root=str(data_dir), train=train, download=True)
        found = load_idx_folder(name, data_dir / _FOLDER[name] / "raw")
        if found is None:
            raise RuntimeError("the download left no IDX files")
    except BaseException as e:  # network errors come in many types; a Ctrl-C cleans up too
        _remove_new(anchor, data_dir, before)
        if not isinstance(e, Exception) or isinstance(e, DataError):
            raise
        raise DataError(f"could not download {name} into {data_dir}: {_download_reason(e)}; nothing "
                        f"was left there. Without internet, copy the four files into "
                        f"{data_dir / _FOLDER[name] / 'raw'}") from None
    return found


def _tree(anchor: Path, data_dir: Path) -> list[Path]:
    """``data_dir``'s dataset folders and every path under them, and the folders on the way from
    ``anchor``: what a download may create."""
    paths = [anchor]
    for folder in [data_dir, *(data_dir / f for f in _FOLDER.values())]:
        if folder.exists():
            paths.append(folder)
        if folder != data_dir and folder.is_dir():
            paths += folder.rglob("*")
    return paths


def _remove_new(anchor: Path, data_dir: Path, before: set) -> None:
    """Remove what a failed download created: files not in ``before``, then such folders, deepest
    first, up to (not including) ``anchor``."""
    new = [p for p in _tree(anchor, data_dir) if p not in before]
    folder = data_dir
    while folder != anchor and anchor in folder.parents:
        new.append(folder)
        folder = folder.parent
    for p in sorted(set(new) - before, key=lambda p: len(p.parts), reverse=True):
        try:
            if p.is_dir() and not p.is_symlink():
                p.rmdir()  # only if empty: a folder that gained a file of someone else's stays
            else:
                p.unlink()
        except OSError:
            pass


def _download_reason(e: Exception) -> str:
    """The cause of a failed download in one line: the first mirror's error, not all of them."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    for k, line in enumerate(lines[:-1]):
        if line.startswith("Tried ") and line.endswith("got:"):
            return one_line(lines[k + 1], 160)
    return one_line(e, 160)


def load_sample() -> Dataset:
    """The embedded real-MNIST sample (stratified from the official splits; see ``scripts/``)."""
    with resources.files("scratch_lstm.sample").joinpath(SAMPLE_FILE).open("rb") as fh:
        z = np.load(fh)
        arrays = {k: z[k] for k in z.files}
    hashes = {k: idx_sha256(arrays[k]) for k in FILES}
    return Dataset(
        "mnist-sample",
        f"embedded sample ({len(arrays['train_labels']):,} train / "
        f"{len(arrays['test_labels']):,} test images)",
        torch.from_numpy(arrays["train_images"]),
        torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        torch.from_numpy(arrays["test_images"]),
        torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        fingerprint(hashes),
        True,
    )


def _nearby(name: str, data_dir: Path) -> Path | None:
    """A folder near a wrong ``data_dir`` that does hold ``name``: a subfolder (one level too high),
    or a sibling with a similar name (a typo); ``None`` if there is none."""
    def subfolders(folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir() if p.is_dir())[:100]
        except OSError:
            return []
    if data_dir.is_dir():
        candidates = subfolders(data_dir)
    else:
        siblings = {p.name: p for p in subfolders(data_dir.parent)}
        candidates = [siblings[n] for n in difflib.get_close_matches(data_dir.name, list(siblings), n=3)]
    for candidate in candidates:
        if any(_find(folder, FILES["train_images"]) for folder in _candidate_dirs(name, candidate)):
            return candidate
    return None


def not_found_message(name: str, data_dir: Path | None, command: str = "train") -> str:
    """What to do when ``name`` is neither local nor downloaded; ``command`` (``train``, ``eval``,
    ``gates``) decides which alternatives make sense."""
    folder = _FOLDER[name]
    if data_dir is not None and not data_dir.exists():
        head = f"{name} not found: --data-dir {data_dir} does not exist."
    else:
        where = "\n".join(f"  {d}" for d in _candidate_dirs(name, data_dir)) or "  (no --data-dir given)"
        head = f"{name} not found. Looked in:\n{where}"
    near = _nearby(name, data_dir) if data_dir is not None else None
    options = [f"put them in DIR/{folder}/raw/ or directly in DIR, and pass --data-dir DIR",
               "or pass --download (with internet) to fetch them through torchvision into --data-dir"]
    if near is not None:
        options.insert(0, f"{near} holds them: pass --data-dir {near}")
    if name == "fashion-mnist":
        options.append("or install Debian's package: apt-get install dataset-fashion-mnist")
    elif command == "train":
        options.append("or leave out --data-dir (with --dataset auto, the default, or mnist-sample) "
                       "to train on the MNIST sample shipped in the package")
    else:
        options.append("or pass --dataset mnist-sample to use the 1,000 test images of the MNIST "
                       "sample shipped in the package (and leave out --data-dir)")
    return (f"{head}\nIt needs these four files (gzipped or not): {', '.join(FILES.values())}.\n"
            "Either:\n" + "\n".join(f"  - {o}" for o in options))


def load_dataset(name: str = "auto", data_dir: str | os.PathLike | None = None,
                 download: bool = False, command: str = "train") -> Dataset:
    """Load ``name`` (one of :data:`DATASETS`), reading local files before downloading.

    With ``data_dir``, the dataset must be there (or be downloaded into it with ``download=True``);
    anything else is a :class:`DataError` that names the folder and what was looked for. Without
    ``data_dir``, ``auto`` is the embedded sample (full MNIST has no standard place), and
    ``fashion-mnist`` looks in Debian's folder. ``mnist`` and ``fashion-mnist`` never fall back.
    Nothing is ever written into a folder that is only read (downloads go to ``data_dir``, and a
    failed one leaves it as it was). ``mnist-sample`` with ``data_dir`` or ``download`` is a
    :class:`DataError`: neither would be used. ``command`` only shapes the not-found message.
    """
    ds = _load_dataset(name, data_dir, download, command)
    fault_point("loaded:data")  # the tests' interrupt hook (scratch_lstm.app.files)
    return ds


def _load_dataset(name: str, data_dir, download: bool, command: str) -> Dataset:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "mnist-sample":
        if data_dir is not None or download:
            flag = f"--data-dir {data_dir}" if data_dir is not None else "--download"
            raise DataError(f"{flag} is not used with --dataset mnist-sample: the sample ships in the "
                            "package. Leave it out, or pass --dataset mnist to use full MNIST from there")
        return load_sample()
    full = "mnist" if name == "auto" else name
    if data_dir is None:
        if download:
            raise DataError("--download needs --data-dir: the folder to download into")
        for folder in _candidate_dirs(full, None):
            found = load_idx_folder(full, folder)
            if found is not None:
                return found
        if name == "auto":
            return load_sample()
        raise DataError(not_found_message(full, None, command))
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        hint = (f": pass --data-dir {data_dir.parent}" if data_dir.name.removesuffix(".gz") in
                FILES.values() else "")
        raise DataError(f"--data-dir {data_dir} is a file, not a folder; give the folder that holds "
                        f"the four IDX files, or DIR with DIR/{_FOLDER[full]}/raw/{hint}")
    if data_dir.is_dir():
        for folder in _candidate_dirs(full, data_dir):
            found = load_idx_folder(full, folder)
            if found is not None:
                return found
    if download:
        return _download(full, data_dir)
    raise DataError(not_found_message(full, data_dir, command))


def sequence_view(images: Tensor, sequence: str = "rows", mean: float = 0.1307,
                  std: float = 0.3081, permutation: Tensor | None = None) -> Tensor:
    """Normalise ``uint8`` images ``(N, 28, 28)`` and read them as sequences.

    ``rows``: ``(N, 28, 28)``, 28 steps of one row each (the lecture's view). ``pixels``:
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
    ``shard=(r, N)``: of each batch, only the r-th of N nearly equal consecutive parts (sizes
    differ by at most one), for the r-th of N processes that train together
    (:mod:`~scratch_lstm.app.distributed`): with the same generator state in each, the N parts of
    a step are together the batch one process would take. A part with nothing in it is skipped.
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, sequence: str = "rows",
                 stats: tuple[float, float] = STATS["mnist"], permutation: Tensor | None = None,
                 shuffle: bool = False, generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu", shard: tuple[int, int] = (0, 1)) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.sequence, self.stats = batch_size, sequence, stats
        self.permutation, self.shuffle, self.generator, self.device = (
            permutation, shuffle, generator, device)
        self.rank, self.shards = shard

    def __len__(self) -> int:
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def samples(self) -> int:
        """How many sequences one pass yields: all of them, or this shard's share of each batch."""
        n, B, N = len(self.labels), self.batch_size, self.shards
        sizes = [min(B, n - start) for start in range(0, n, B)]  # each batch's
        return sum(m // N + (self.rank < m % N) for m in sizes)  # tensor_split's part sizes

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.shards > 1:
                idx = idx.tensor_split(self.shards)[self.rank]  # (n_r,) this process's part
                if len(idx) == 0:
                    continue
            x = sequence_view(self.images[idx], self.sequence, *self.stats, self.permutation)
            yield to_device(x, self.device), to_device(self.labels[idx], self.device)


def to_device(t: Tensor, device: str | torch.device) -> Tensor:
    """``t`` on ``device``; to a CUDA GPU from pinned (page-locked) memory, without blocking.

    A copy from ordinary (pageable) memory makes the host wait until the GPU has it; from pinned
    memory it is queued on the current stream like a kernel, ahead of the step that reads it,
    while the host prepares the next batch. Elsewhere a plain ``t.to(device)``.
    """
    if torch.device(device).type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
