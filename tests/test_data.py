"""IDX reading and checking, dataset discovery, the embedded sample and the sequence views."""

import gzip
import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from scratch_lstm.app import data as data_module
from scratch_lstm.app.data import (
    FILES,
    Batches,
    DataError,
    fingerprint,
    idx_sha256,
    load_dataset,
    load_sample,
    not_found_message,
    pixel_permutation,
    read_idx,
    sequence_view,
)

# A folder holding full MNIST (DIR/MNIST/raw/* or the four files), for the one test that compares
# the embedded sample with it; skipped where it is not set.
FULL_MNIST = os.environ.get("SCRATCH_LSTM_MNIST_DIR")
FASHION = Path("/usr/share/datasets/fashion-mnist")


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


def test_corrupt_gzip_body_is_named(tmp_path):
    write_split(tmp_path)
    path = tmp_path / (FILES["train_images"] + ".gz")
    raw = bytearray(path.read_bytes())
    raw[20:60] = bytes(40)  # the header stays valid, the deflate stream does not
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=rf"{path.name}: cannot read or decompress"):
        load_dataset("mnist", tmp_path)


def test_a_header_whose_dimensions_overflow_is_named(tmp_path):
    dims = b"".join((2**31).to_bytes(4, "big") for _ in range(3))
    (tmp_path / "a").write_bytes(bytes([0, 0, 0x08, 3]) + dims + bytes(784))
    with pytest.raises(DataError, match=r"header declares shape \(2147483648, 2147483648, 2147483648\)"):
        read_idx(tmp_path / "a", 3)


def test_files_with_zero_images_are_refused(tmp_path):
    write_split(tmp_path, n_train=0)
    with pytest.raises(DataError, match="holds no images .* the train split needs at least one"):
        load_dataset("mnist", tmp_path)


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
    assert "to train on the MNIST sample" in message
    for command in ("eval", "gates"):
        other = not_found_message("mnist", tmp_path, command)
        assert "--dataset mnist-sample to use the 1,000 test images" in other
        assert "train" not in other.split("Either:")[1]
    assert "mnist-sample" not in not_found_message("fashion-mnist", tmp_path, "eval")


def test_auto_falls_back_to_the_sample_only_without_a_data_dir(tmp_path):
    assert load_dataset("auto", None).name == "mnist-sample"
    with pytest.raises(DataError, match=rf"mnist not found\. Looked in:\n  {tmp_path}"):
        load_dataset("auto", tmp_path)
    write_split(tmp_path / "MNIST" / "raw")
    assert load_dataset("auto", tmp_path).name == "mnist"


def test_fingerprint_is_the_content_whatever_the_compression(tmp_path):
    arrays = write_split(tmp_path / "gz", gz=True)
    write_split(tmp_path / "raw", gz=False)
    a, b = load_dataset("mnist", tmp_path / "gz"), load_dataset("mnist", tmp_path / "raw")
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert not a.published  # random files are not the published MNIST
    raw = (tmp_path / "raw" / FILES["train_images"]).read_bytes()
    assert idx_sha256(arrays["train_images"].astype(np.uint8)) == hashlib.sha256(raw).hexdigest()
    write_split(tmp_path / "other", seed=1)
    assert load_dataset("mnist", tmp_path / "other").fingerprint != a.fingerprint
    assert load_sample().fingerprint == load_sample().fingerprint != a.fingerprint


def test_files_whose_content_is_the_other_dataset_are_refused(tmp_path, monkeypatch):
    arrays = write_split(tmp_path)
    hashes = {k: idx_sha256(a.astype(np.uint8)) for k, a in arrays.items()}
    monkeypatch.setitem(data_module.PUBLISHED_SHA256, "fashion-mnist", hashes)  # pretend they are
    with pytest.raises(DataError, match="published fashion-mnist file, not mnist.*--dataset fashion-mnist"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataError, match="published fashion-mnist file"):
        load_dataset("auto", tmp_path)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.published and ds.fingerprint == fingerprint(hashes)


@pytest.mark.skipif(not (FASHION / "train-labels-idx1-ubyte.gz").exists(),
                    reason="apt-get install dataset-fashion-mnist")
def test_real_fashion_files_are_told_apart_from_mnist():
    assert load_dataset("fashion-mnist").published
    with pytest.raises(DataError, match="published fashion-mnist file, not mnist"):
        load_dataset("mnist", FASHION)


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
    if not FULL_MNIST:
        pytest.skip("set SCRATCH_LSTM_MNIST_DIR to a folder holding full MNIST to compare the sample with it")
    full = load_dataset("mnist", FULL_MNIST)
    assert full.published  # the decoded files are the published MNIST (data.PUBLISHED_SHA256)
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
