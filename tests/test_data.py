"""IDX reading and checking, dataset discovery, the embedded sample and the sequence views."""

import gzip
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from scratch_lstm.data import (
    FILES, Batches, DataError, load_dataset, load_sample, pixel_permutation,
    read_idx, sequence_view,
)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(folder: Path, n_train=12, n_test=6, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    for key, stem in FILES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_loads_both_layouts_gzipped_or_not(tmp_path, gz, layout):
    folder = tmp_path / "MNIST" / "raw" if layout == "torchvision" else tmp_path
    arrays = write_split(folder, gz=gz)
    ds = load_dataset("mnist", tmp_path)
    assert ds.name == "mnist" and ds.source == str(folder)
    assert torch.equal(ds.train_images, torch.from_numpy(arrays["train_images"].astype(np.uint8)))
    assert torch.equal(ds.test_labels, torch.from_numpy(arrays["test_labels"]))
    assert ds.train_labels.dtype == torch.int64 and ds.train_images.dtype == torch.uint8


def test_truncated_file_is_named(tmp_path):
    write_split(tmp_path, gz=False)
    path = tmp_path / FILES["train_images"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=rf"{path.name}: truncated or padded"):
        load_dataset("mnist", tmp_path)


def test_wrong_magic_is_named(tmp_path):
    write_split(tmp_path)
    path = tmp_path / (FILES["test_labels"] + ".gz")
    path.write_bytes(gzip.compress(b"PK\x03\x04 not idx at all"))
    with pytest.raises(DataError, match=rf"{path.name}: not an IDX file"):
        load_dataset("mnist", tmp_path)


def test_wrong_rank_and_corrupt_gzip_are_named(tmp_path):
    (tmp_path / "a").write_bytes(idx_bytes(np.zeros((3, 28, 28))))
    with pytest.raises(DataError, match="has 3 dimensions, expected 1"):
        read_idx(tmp_path / "a", 1)
    (tmp_path / "b").write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(DataError, match="cannot read or decompress"):
        read_idx(tmp_path / "b")


def test_missing_file_is_named(tmp_path):
    write_split(tmp_path)
    (tmp_path / (FILES["test_images"] + ".gz")).unlink()
    with pytest.raises(DataError, match="not t10k-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)


def test_nothing_found_explains_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path)
    message = str(err.value)
    for stem in FILES.values():
        assert stem in message
    assert "--data-dir" in message and "--download" in message and "mnist-sample" in message


def test_auto_falls_back_to_the_sample_and_mnist_does_not(tmp_path):
    assert load_dataset("auto", tmp_path).name == "mnist-sample"
    assert load_dataset("auto", None).name == "mnist-sample"
    write_split(tmp_path / "MNIST" / "raw")
    assert load_dataset("auto", tmp_path).name == "mnist"


def test_read_only_folder_is_never_written(tmp_path):
    folder = tmp_path / "ro"
    write_split(folder)
    before = sorted(os.listdir(folder))
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        ds = load_dataset("fashion-mnist", folder)
        assert ds.name == "fashion-mnist" and ds.stats == (0.2860, 0.3530)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert sorted(os.listdir(folder)) == before


def test_embedded_sample_is_small_real_and_stratified():
    ds = load_sample()
    path = Path(__file__).resolve().parents[1] / "scratch_lstm" / "sample" / "mnist_sample.npz"
    assert path.stat().st_size <= 2_000_000
    assert torch.equal(ds.train_labels.bincount(), torch.full((10,), 500))
    assert torch.equal(ds.test_labels.bincount(), torch.full((10,), 100))
    assert abs(ds.train_images.float().mean().item() / 255 - 0.1307) < 0.01  # MNIST's pixel mean


def test_sample_matches_the_full_files_when_present():
    full_dir = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (full_dir / "MNIST" / "raw").is_dir():
        pytest.skip("full MNIST not beside the checkout")
    full = load_dataset("mnist", full_dir)
    z = np.load(Path(__file__).resolve().parents[1] / "scratch_lstm" / "sample" / "mnist_sample.npz")
    assert np.array_equal(full.train_images.numpy()[z["train_indices"]], z["train_images"])
    assert np.array_equal(full.test_labels.numpy()[z["test_indices"]], z["test_labels"])


def test_sequence_views_and_permutation():
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    rows = sequence_view(images, "rows", 0.5, 0.25)
    assert rows.shape == (5, 28, 28)
    torch.testing.assert_close(rows, (images.float() / 255 - 0.5) / 0.25)
    pixels = sequence_view(images, "pixels")
    assert pixels.shape == (5, 784, 1)
    assert torch.equal(pixels[:, 28 * 3 + 4, 0], sequence_view(images, "rows")[:, 3, 4])
    perm = pixel_permutation(7)
    assert torch.equal(perm, pixel_permutation(7)) and not torch.equal(perm, pixel_permutation(8))
    assert torch.equal(perm.sort().values, torch.arange(784))
    permuted = sequence_view(images, "permuted", permutation=perm)
    assert torch.equal(permuted[:, :, 0], pixels[:, perm, 0])
    with pytest.raises(ValueError, match="unknown sequence view"):
        sequence_view(images, "columns")


def test_batches_cover_every_sample_once_in_a_reproducible_order():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1).expand(10, 28, 28).contiguous()
    labels = torch.arange(10)
    def epoch(seed):
        b = Batches(images, labels, 4, shuffle=True, generator=torch.Generator().manual_seed(seed))
        assert len(b) == 3
        return torch.cat([y for _, y in b])
    assert sorted(epoch(0).tolist()) == list(range(10))
    assert torch.equal(epoch(0), epoch(0)) and not torch.equal(epoch(0), epoch(1))
    x, y = next(iter(Batches(images, labels, 4)))
    assert x.shape == (4, 28, 28) and y.tolist() == [0, 1, 2, 3]
