"""Faults in what the program reads or is told: crafted checkpoints and metrics,
sizes beyond the machine, IDX headers, flags that would be silently ignored or surprising, and
messages that must say what really failed.

Each test forces one fault and checks the one ``error:`` line (or the note that says what is
done instead), the exit code, and that the files the user had are unchanged.
"""

import gzip
import json
import os
import re
import struct
import threading
import tracemalloc
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from test_data import idx_bytes, write_split
from test_faults import FLAGS, checkpoint, copy_run, one_epoch, one_error, snapshot  # noqa: F401

from scratch_lstm.app import bench as bench_module
from scratch_lstm.app import data as data_module
from scratch_lstm.app.checkpoints import CHECKPOINT_VERSION, check_metrics, load_checkpoint, seal_checkpoint
from scratch_lstm.app.cli import main
from scratch_lstm.app.config import TrainConfig
from scratch_lstm.app.data import DataError, read_idx
from scratch_lstm.app.errors import TrainingError, one_line
from scratch_lstm.app.limits import (
    check_fits,
    cpu_count,
    fmt_bytes,
    lstm_classifier_parameters,
    memory_limit,
    training_bytes,
)
from scratch_lstm.app.lock import LOCK_FILE
from scratch_lstm.app.train import train
from scratch_lstm.classifier import LSTMClassifier

# --- 4. a version-1 metrics log is checked before anything is written from it -----------------------


def make_version_1(out: Path) -> None:
    ckpt = torch.load(out / "last.pt", weights_only=True)
    for key in ("data", "history", "best_epoch", "checksum"):
        del ckpt[key]
    ckpt["version"] = 1
    torch.save(ckpt, out / "last.pt")


@pytest.mark.parametrize("value", [None, "2.3"])
def test_a_version_1_metrics_line_that_is_not_metrics_is_refused_before_anything_is_written(
        value, one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    make_version_1(out)
    line = json.loads((out / "metrics.jsonl").read_text())
    line["train_loss"] = value
    (out / "metrics.jsonl").write_text(json.dumps(line) + "\n")
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 2
    err = one_error(capsys.readouterr().err)
    assert f"{out / 'metrics.jsonl'} line 1: 'train_loss' is {value!r}, not a finite number" in err
    assert "Fix or remove that line" in err
    assert snapshot(out) == before
    (out / "metrics.jsonl").unlink()  # as the message says: the run goes on without that log
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 0
    assert load_checkpoint(out / "last.pt")["epoch"] == 2  # and what it wrote loads


# --- 5. every field of a checkpoint is checked on load -----------------------------------------------

def craft_epoch_half(c):
    c["epoch"] = 0.5


def craft_epoch_negative(c):
    c["epoch"] = -2


def craft_best_none(c):
    c["best_test_acc"] = None


def craft_data(c):
    c["data"] = "x"


def craft_sequence(c):
    c["sequence"] = "bogus"


def craft_permutation_seed(c):
    c["permutation_seed"] = "x"


def craft_history_entry(c):
    del c["history"][0]["train_loss"]


def craft_version_1_epoch(c):
    for key in ("data", "history", "best_epoch"):
        del c[key]
    c["version"], c["epoch"] = 1, "1"


def craft_exp_avg(c):
    c["optimizer"]["state"][0]["exp_avg"] = torch.zeros(3)


def craft_config_value(c):
    c["config"]["lr"] = "fast"


def craft_no_fit(c):
    c["model_config"]["hidden_size"] = 9


def craft_unknown_key(c):
    c["model_config"]["width"] = 3


def craft_no_config(c):
    del c["config"]


def craft_unknown_setting(c):
    c["config"]["momentum"] = 0.9


def craft_nan_weights(c):
    c["model"]["lin.weight"][0, 0] = float("nan")


def craft_newer(c):
    c["version"] = 99


def craft_history(c):
    c["history"] = "x"


def craft_best(c):
    c["best_test_acc"] = "high"


def craft_input_size_5(c):  # weights that fit the model_config, not the data
    c["model_config"]["input_size"] = 5
    c["model"]["rnn.weight_ih_l0"] = torch.zeros(32, 5)
    c["optimizer"]["state"][0]["exp_avg"] = c["optimizer"]["state"][0]["exp_avg_sq"] = torch.zeros(32, 5)


def craft_pixels_labelled_rows(c):  # a pixel model's weights, sequence "rows"
    craft_input_size_5(c)
    c["model_config"]["input_size"] = 1
    c["model"]["rnn.weight_ih_l0"] = torch.zeros(32, 1)


def craft_classes(n):
    def craft(c):
        c["model_config"]["num_classes"] = n
        c["model"]["lin.weight"], c["model"]["lin.bias"] = torch.zeros(n, 8), torch.zeros(n)
    craft.__name__ = f"craft_{n}_classes"
    return craft


def craft_group(**values):
    def craft(c):
        group = c["optimizer"]["param_groups"][0]
        for key, value in values.items():
            if value is KeyError:
                del group[key]
            else:
                group[key] = value
    craft.__name__ = "craft_" + "_".join(values)
    return craft


def craft_step(c):
    c["optimizer"]["state"][0]["step"] = torch.tensor(-5.0)


def craft_best_above_history(c):
    c["best_test_acc"] = 1.0  # the history's best is 12.2%


def craft_lr_1e308(c):
    c["optimizer"]["param_groups"][0]["lr"] = 1e308


@pytest.mark.parametrize("craft, message, evaluates", [
    (craft_input_size_5, "'model_config.input_size' is 5, not 28: the model reads rows", False),
    (craft_pixels_labelled_rows, "'model_config.input_size' is 1, not 28: the model reads rows", False),
    *[(craft_classes(n), f"'model_config.num_classes' is {n}, not 10", False) for n in (1, 3, 20)],
    (craft_group(betas="ab"), "'optimizer.param_groups.betas' is 'ab', not two numbers in [0, 1)", False),
    (craft_group(betas=(2.0, 0.999)), "'optimizer.param_groups.betas' is (2.0, 0.999), not two numbers", False),
    (craft_group(betas=KeyError), "'optimizer.param_groups.betas' is None, not two numbers", False),
    (craft_group(weight_decay="x"), "'optimizer.param_groups.weight_decay' is 'x', not a finite number >= 0",
     False),
    (craft_group(eps=-1), "'optimizer.param_groups.eps' is -1, not a finite number > 0", False),
    (craft_group(amsgrad=True), "'optimizer.param_groups.amsgrad' is True, not false", False),
    (craft_group(maximize=True), "'optimizer.param_groups.maximize' is True, not false", False),
    (craft_step, "'optimizer.state[0].step' is tensor(-5.), not a step count >= 0", False),
    (craft_lr_1e308, "'optimizer.param_groups.lr' is 1e+308, not at most the run's --lr 0.001", False),
    (craft_best_above_history, "'best_test_acc' is 1.0, not the history's best test accuracy 0.122", False),
    (craft_no_fit, "model_config", False),
    (craft_unknown_key, "'model_config' has unknown entries ['width']", False),
    (craft_no_config, "lacks config, so it cannot be continued", True),
    (craft_unknown_setting, "unknown settings ['momentum']", True),
    (craft_nan_weights, "non-finite weights", False),
    (craft_newer, "checkpoint version 99", False),
    (craft_history, "'history' is not a list of per-epoch metrics", False),
    (craft_best, "'best_test_acc' is 'high', not a number", False),
    (craft_epoch_half, "'epoch' is 0.5, not an integer >= 0", False),
    (craft_epoch_negative, "'epoch' is -2, not an integer >= 0", False),
    (craft_best_none, "'best_test_acc' is None, not a number", False),
    (craft_data, "'data' is 'x', not the data's record", False),
    (craft_sequence, "'sequence' is 'bogus', not one of rows, pixels, permuted", False),
    (craft_permutation_seed, "'permutation_seed' is 'x', not an integer from 0 to 2**64 - 1", False),
    (craft_history_entry, "'history'[0] has no 'train_loss'", False),
    (craft_version_1_epoch, "'epoch' is '1', not an integer >= 0", False),
    (craft_exp_avg, "'optimizer.state[0].exp_avg' (of rnn.weight_ih_l0) is shape (3,), not a tensor "
                    "of shape (32, 28)", True),
    (craft_config_value, "'config' holds a bad setting: --lr must be a finite number > 0, got 'fast'",
     False),
])
def test_every_crafted_field_is_one_error_line_naming_it(craft, message, evaluates, one_epoch, tmp_path,
                                                         capsys):
    out = copy_run(one_epoch, tmp_path)  # constant schedule: --epochs 2 continues it
    ckpt = torch.load(out / "last.pt", weights_only=True)
    craft(ckpt)
    torch.save(seal_checkpoint(ckpt), out / "last.pt")  # crafted, then written as a whole: its checksum fits
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 2
    assert message in one_error(capsys.readouterr().err)
    for command in (["eval", "--checkpoint", str(out / "last.pt")],
                    ["gates", "--checkpoint", str(out / "last.pt"), "--out", str(tmp_path / "gates")],
                    ["explore", "--checkpoint", str(out / "last.pt"), "--out", str(tmp_path / "page.html")]):
        code = main(command)
        if evaluates:  # the optimizer is only read by a resume
            assert code == 0
        else:
            assert code == 2 and message in one_error(capsys.readouterr().err)
    assert snapshot(out) == before


def test_check_metrics_names_the_field():
    good = {"epoch": 1, "train_loss": 2.3, "train_acc": 0.1, "test_loss": 2.2, "test_acc": 0.12}
    check_metrics(good, "x")
    for bad, field in (({**good, "epoch": 0}, "'epoch' is 0"), ({**good, "test_acc": 1.5}, "'test_acc' is 1.5"),
                       ({**good, "test_loss": float("nan")}, "'test_loss' is nan"), ([], "is [], not")):
        with pytest.raises(TrainingError, match=re.escape(field)):
            check_metrics(bad, "x")


# --- 8. sizes bounded by the machine, threads by its CPUs --------------------------------------------

@pytest.mark.parametrize("argv, flag", [
    (["inspect", "--batch-size", "100000000000"], "--batch-size 100000000000"),
    (["inspect", "--num-classes", "1000000000000"], "--num-classes 1000000000000"),
    (["inspect", "--seq-len", "99999999999999999999"], "--seq-len 99999999999999999999"),
    (["train", *FLAGS, "--hidden-size", "1000000"], "--hidden-size 1000000"),
    (["train", *FLAGS, "--hidden-size", "99999999999999999999"], "--hidden-size 99999999999999999999"),
    (["train", *FLAGS, "--num-layers", "100000000"], "--num-layers 100000000"),
])
def test_a_size_beyond_the_machine_is_one_error_line_that_states_the_limit(argv, flag, tmp_path,
                                                                           capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--out", str(tmp_path / "run")] if argv[0] == "train" else argv) == 2
    err = one_error(capsys.readouterr().err)
    limit, source = memory_limit()
    assert flag in err and f"more than this machine can hold: {source} is {fmt_bytes(limit)}" in err
    assert list(tmp_path.iterdir()) == []


def test_the_largest_hidden_size_that_fits_is_named(tmp_path, capsys):
    assert main(["train", *FLAGS, "--hidden-size", "1000000", "--out", str(tmp_path / "run")]) == 2
    found = re.search(r"--hidden-size (\d+) is the most that fits", capsys.readouterr().err)
    H = int(found.group(1))
    limit, _ = memory_limit()
    # rows: 28 steps of 28 features; FLAGS: 1 layer, batches of 50; float32
    assert training_bytes(28, 28, H, 1, 50, 4) <= limit < training_bytes(28, 28, H + 1, 1, 50, 4)


def test_parameter_count_and_bytes():
    for sizes in ((28, 256, 2, 10), (1, 8, 1, 10), (3, 5, 3, 7)):
        model = LSTMClassifier(sizes[0], sizes[1], sizes[3], sizes[2])
        assert lstm_classifier_parameters(*sizes) == sum(p.numel() for p in model.parameters())
    assert fmt_bytes(100) == "100 bytes" and fmt_bytes(3 * 2**30) == "3.0 GiB"
    assert fmt_bytes(10**30) == "1e+30 bytes"
    with pytest.raises(TrainingError, match="needs at least 1e\\+30 bytes of memory"):
        check_fits(10**30, "this")
    check_fits(1, "one byte")


@pytest.mark.parametrize("argv", [
    ["bench", "--threads", "100000"], ["bench", "--threads", "1000"],
    ["train", "--threads", "100000"], ["eval", "--checkpoint", "x.pt", "--threads", "100000"],
    ["bench", "--threads", "0"],
])
def test_threads_are_capped_at_the_cpus_that_exist(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert f"must be from 1 to {cpu_count()} (the CPUs this machine has)" in one_error(capsys.readouterr().err)


def test_a_runs_thread_count_beyond_this_machine_is_named(tmp_path):
    with pytest.raises(TrainingError, match=f"--threads {cpu_count() + 1}: this machine has {cpu_count()} CPUs"):
        train(TrainConfig(dataset="mnist-sample", threads=cpu_count() + 1, out=str(tmp_path / "run")))
    assert list(tmp_path.iterdir()) == []


# --- 9. an IDX header is checked, and the size it declares, before the payload is read ---------------

def test_a_huge_truncated_idx_file_is_refused_from_its_header(tmp_path, capsys):
    data = tmp_path / "data"
    write_split(data)
    images = data / "train-images-idx3-ubyte"
    (data / "train-images-idx3-ubyte.gz").unlink()
    with open(images, "wb") as fh:  # declares 8 GB, holds 6 GB (sparse: no disk, no memory used)
        fh.write(bytes([0, 0, 0x08, 3]) + b"".join(n.to_bytes(4, "big") for n in (10_000_000, 28, 28)))
        fh.truncate(6 * 10**9)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"truncated or padded: header declares shape \(10000000, 28, 28\) "
                                            r"\(7,840,000,000 bytes\), payload has 5,999,999,984 bytes"):
            read_idx(images, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # the payload was never read
    assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(tmp_path / "run")]) == 2
    assert "truncated or padded" in one_error(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_a_gzipped_header_beyond_the_machines_memory_is_refused_before_reading(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    dims = b"".join((2**31).to_bytes(4, "big") for _ in range(3))
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 3]) + dims + bytes(784)))
    limit, source = memory_limit()
    with pytest.raises(DataError, match=re.escape(f"more than this machine can hold ({source}: {fmt_bytes(limit)})")):
        read_idx(path, 3)
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(torch.zeros(2, 28, 28).numpy()) + b"extra"))
    with pytest.raises(DataError, match="payload has more than 1,568 bytes"):
        read_idx(tmp_path / "b.gz", 3)


# --- 10. nothing silently surprising -------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["train", "--out", ""], ["gates", "--checkpoint", "x.pt", "--out", ""], ["bench", "--json", ""],
    ["train", "--data-dir", " "], ["explore", "--out", ""], ["explore", "--checkpoint", "", "--out", "p.html"],
    ["gradient-flow", "--out", ""],
])
def test_an_empty_path_is_refused_not_taken_as_the_current_folder(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and "must be a file or folder name" in one_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "mnist-sample", "--data-dir", "/nonexistent"],
    ["train", "--dataset", "mnist-sample", "--download"],
    ["eval", "--checkpoint", "CKPT", "--dataset", "mnist-sample", "--data-dir", "/nonexistent"],
])
def test_data_flags_the_sample_would_ignore_are_refused(argv, checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(checkpoint) if a == "CKPT" else a for a in argv]) == 2
    assert "is not used with --dataset mnist-sample: the sample ships in the package" in one_error(
        capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_eval_and_gates_use_data_dir_with_a_checkpoint_of_the_sample(checkpoint, tmp_path, capsys):
    data = tmp_path / "data"
    write_split(data)
    note = (f"note: {checkpoint} was trained on the embedded MNIST sample; --data-dir was given, so "
            "this is full MNIST's test split from there")
    assert main(["eval", "--checkpoint", str(checkpoint), "--data-dir", str(data)]) == 0
    text = capsys.readouterr().out
    assert note in text and f"data: mnist test split from {data}" in text
    assert "(6 samples)" in text
    assert main(["gates", "--checkpoint", str(checkpoint), "--data-dir", str(data), "--out",
                 str(tmp_path / "gates")]) == 0
    assert note in capsys.readouterr().out
    assert json.loads((tmp_path / "gates" / "gates.json").read_text())["dataset"] == "mnist"
    assert main(["gradient-flow", "--checkpoint", str(checkpoint), "--data-dir", str(data), "--batch-size",
                 "2", "--out", str(tmp_path / "flow")]) == 0
    assert note in capsys.readouterr().out
    assert json.loads((tmp_path / "flow" / "gradient_flow.json").read_text())["dataset"] == "mnist"


def test_a_train_subset_larger_than_the_set_says_so(tmp_path, capsys):
    data = tmp_path / "data"
    write_split(data)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--train-subset", "100",
                 "--hidden-size", "4", "--num-layers", "1", "--epochs", "1", "--log-every", "0",
                 "--out", str(out)]) == 0
    assert ("note: --train-subset 100 is more than the 12 training images of mnist: training on all 12"
            in capsys.readouterr().out)


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_out_in_the_data_folder_is_refused(layout, tmp_path, capsys):
    data = tmp_path / "data"
    source = data if layout == "flat" else data / "MNIST" / "raw"
    write_split(source)
    listing = lambda: sorted((str(p), p.read_bytes() if p.is_file() else None)  # noqa: E731
                             for p in data.rglob("*"))
    before = listing()
    for out in {data, source}:
        assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(out)]) == 2
        assert f"--out {out} is the data folder" in one_error(capsys.readouterr().err)
        assert main(["gradient-flow", "--hidden-size", "4", "--batch-size", "2", "--dataset", "mnist",
                     "--data-dir", str(data), "--out", str(out)]) == 2
        assert f"--out {out} is the data folder" in one_error(capsys.readouterr().err)
    assert listing() == before


def test_bench_json_never_replaces_another_file_and_fails_before_running(checkpoint, tmp_path, capsys,
                                                                         monkeypatch):
    summary = checkpoint.parent / "summary.json"
    before = summary.read_bytes()
    for target, message in ((summary, "exists and is not an earlier benchmark's rows"),
                            (tmp_path, "is a folder"), (tmp_path / "no" / "b.json", "does not exist")):
        assert main(["bench", "--json", str(target)]) == 2
        text = capsys.readouterr()
        assert message in one_error(text.err) and text.out == ""  # nothing was timed
    assert summary.read_bytes() == before
    monkeypatch.setitem(bench_module.CONFIGS, "lecture", bench_module.BenchConfig("lecture", 2, 3, 28, 8, 1))
    target = tmp_path / "bench.json"
    for _ in range(2):  # a new file, then an earlier benchmark's rows: replaced
        assert main(["bench", "--config", "lecture", "--impl", "fused", "--repeats", "1", "--warmup", "0",
                     "--json", str(target)]) == 0
        assert [r["impl"] for r in json.loads(target.read_text())] == ["fused"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]  # no temporary file left


# --- 11. messages that say what failed -----------------------------------------------------------------

@pytest.mark.parametrize("existing", ["none", "empty", "with a file"])
def test_a_failed_download_is_one_line_and_leaves_the_folder_as_it_was(existing, tmp_path, capsys,
                                                                       monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def offline(url, download_root, filename=None, md5=None, **kwargs):
        Path(download_root, filename).write_bytes(b"half a downloa")  # a partial file first
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    data = tmp_path / "data"
    if existing != "none":
        data.mkdir()
    if existing == "with a file":
        (data / "notes.txt").write_text("mine")
    before = snapshot(data)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--download", "--out", str(out)]) == 2
    text = capsys.readouterr()
    assert one_error(text.err) == (
        f"error: could not download mnist into {data}: <urlopen error [Errno -3] Temporary failure in "
        f"name resolution>; nothing was left there. Without internet, copy the four files into "
        f"{data / 'MNIST' / 'raw'}")
    assert text.out == ""  # torchvision's own lines are not shown
    assert data.exists() == (existing != "none") and snapshot(data) == before
    assert not out.exists()


def test_a_checkpoint_that_is_not_one_is_a_clean_line(checkpoint, tmp_path, capsys):
    config = checkpoint.parent / "config.json"
    pickled = tmp_path / "module.pt"
    torch.save({"model": torch.nn.Linear(1, 1)}, pickled)
    (tmp_path / "junk.pt").write_bytes(b"\x00\x01 not a checkpoint")
    (tmp_path / "empty.pt").write_bytes(b"")
    cases = {config: "it is a JSON text file, not a checkpoint (use a run folder's last.pt or best.pt)",
             pickled: "it holds pickled Python objects (torch.nn.modules.linear.Linear), not only "
                      "tensors, numbers and strings; scratch-lstm never writes those and does not load "
                      "them, since unpickling can run code",
             tmp_path / "empty.pt": "the file is empty",
             tmp_path / "junk.pt": "not a torch checkpoint file (UnpicklingError: ",
             tmp_path: "is a folder; give its last.pt or best.pt"}
    for path, message in cases.items():
        assert main(["eval", "--checkpoint", str(path)]) == 2
        err = one_error(capsys.readouterr().err)
        assert message in err and "\x1b" not in err and len(err) < 400, err


def test_one_line_drops_colour_codes_and_cuts_at_a_word():
    text = "Weights only load failed. \x1b[1mdo those steps only if you trust\x1b[0m. " + "word " * 100
    line = one_line(text, 60)
    assert "\x1b" not in line and line.endswith("...") and len(line) <= 60
    assert line[:-3].split()[-1] in text.split()  # a whole word before the cut


# --- issue 25: nothing that is not a regular file is waited on or read -----------------------------

@pytest.fixture
def no_hang(tmp_path):
    """A test that would block forever opening a FIFO under ``tmp_path`` for reading fails after
    60 s instead: from then on a writer opens each FIFO there every second, which ends a reader's
    wait."""
    done = threading.Event()

    def open_every_fifo():
        if done.wait(60):
            return
        while not done.wait(1):
            for path in tmp_path.rglob("*"):
                if path.is_fifo():
                    try:
                        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                    except OSError:  # no reader waits there
                        pass

    thread = threading.Thread(target=open_every_fifo, daemon=True)
    thread.start()
    yield
    done.set()
    thread.join()


def fifo_lock(tmp_path, run):
    os.mkfifo(run / LOCK_FILE)
    return (["train", "--out", str(run), "--epochs", "2", "--resume"],
            f"{run / LOCK_FILE} is a FIFO (named pipe), not the lock file scratch-lstm makes")


def fifo_checkpoint(command):
    def make(tmp_path, run):
        os.mkfifo(tmp_path / "x.pt")
        extra = ["--out", str(tmp_path / "gates")] if command == "gates" else []
        return ([command, "--checkpoint", str(tmp_path / "x.pt"), *extra],
                f"checkpoint {tmp_path / 'x.pt'} is a FIFO (named pipe), not a checkpoint file")
    return make


def fifo_last_pt(tmp_path, run):
    (run / "last.pt").unlink()
    os.mkfifo(run / "last.pt")
    return (["train", "--out", str(run), "--epochs", "2", "--resume"],
            f"checkpoint {run / 'last.pt'} is a FIFO (named pipe), not a checkpoint file")


def idx_named(kind):
    def make(tmp_path, run):
        data = tmp_path / "data"
        write_split(data)
        (data / "t10k-labels-idx1-ubyte.gz").unlink()
        if kind == "FIFO":
            os.mkfifo(data / "t10k-labels-idx1-ubyte.gz")
        else:
            (data / "t10k-labels-idx1-ubyte.gz").mkdir()
        what = "a FIFO (named pipe)" if kind == "FIFO" else "a folder"
        return (["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(tmp_path / "new")],
                f"{data / 't10k-labels-idx1-ubyte.gz'} is {what}, not an IDX file")
    return make


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("make", [fifo_lock, fifo_checkpoint("eval"), fifo_checkpoint("gates"), fifo_last_pt,
                                  idx_named("FIFO"), idx_named("folder")],
                         ids=["lock", "eval", "gates", "last.pt", "idx-fifo", "idx-folder"])
def test_what_is_not_a_regular_file_is_refused_at_once(make, one_epoch, tmp_path, capsys, no_hang):
    run = copy_run(one_epoch, tmp_path)
    argv, message = make(tmp_path, run)
    files = lambda: {p.name: p.read_bytes() if p.is_file() else "not a file" for p in run.iterdir()}  # noqa: E731
    before = files()
    capsys.readouterr()
    assert main(argv) == 2
    assert message in one_error(capsys.readouterr().err)
    assert files() == before
    assert not (tmp_path / "new").exists() and not (tmp_path / "gates").exists()


# --- issue 25: an IDX payload is read in bounded pieces, up to the size its header declares -----------

def test_a_header_that_declares_more_than_the_file_holds_costs_only_what_it_holds(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"  # declares a GB, holds 1 KB
    dims = b"".join(n.to_bytes(4, "big") for n in (1_275_510, 28, 28))
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 3]) + dims + bytes(1024)))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"payload has 1,024 bytes"):
            read_idx(path, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * data_module.READ_CHUNK  # not the gigabyte the header declares


def test_a_byte_past_the_declared_payload_is_refused_without_decompressing_the_rest(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte.gz"  # 2 images, then 8 MiB of zeros
    path.write_bytes(gzip.compress(idx_bytes(torch.zeros(2, 28, 28).numpy()) + bytes(2**23), compresslevel=1))
    monkeypatch.setattr(data_module, "DRAIN_LIMIT", 2**20, raising=False)
    decoded, real = [], gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: decoded.append(len(r := real(self, n))) or r)
    with pytest.raises(DataError, match="payload has more than 1,568 bytes"):
        read_idx(path, 3)
    assert sum(decoded) <= 16 + 1568 + 1 + 2**20


# --- issue 25: a checkpoint changed after it was written is refused, never silently loaded -----------

def flip_an_exponent_bit(path: Path) -> float:
    """Flip bit 30 (the top exponent bit) of the float32 lin.weight[0, 0] in the file, as a bad
    disk sector would; returns the value it now holds."""
    value = torch.load(path, weights_only=True)["model"]["lin.weight"][0, 0]
    raw = bytearray(path.read_bytes())
    at = raw.find(struct.pack("<f", value.item()))
    raw[at + 3] ^= 0x40
    path.write_bytes(bytes(raw))
    return torch.load(path, weights_only=True)["model"]["lin.weight"][0, 0].item()


@pytest.mark.parametrize("command", ["resume", "eval", "gates", "gradient-flow"])
def test_a_flipped_bit_in_a_checkpoint_is_refused(command, one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    assert abs(flip_an_exponent_bit(out / "last.pt")) > 1e30  # torch.load itself does not notice
    before = snapshot(out)
    argv = {"resume": ["train", "--out", str(out), "--epochs", "2", "--resume"],
            "eval": ["eval", "--checkpoint", str(out / "last.pt")],
            "gates": ["gates", "--checkpoint", str(out / "last.pt"), "--out", str(tmp_path / "g")],
            "gradient-flow": ["gradient-flow", "--checkpoint", str(out / "last.pt"), "--out",
                              str(tmp_path / "g")]}[command]
    capsys.readouterr()
    assert main(argv) == 2
    err = one_error(capsys.readouterr().err)
    assert f"{out / 'last.pt'} is damaged: its content does not match the checksum written with it" in err
    assert snapshot(out) == before and not (tmp_path / "g").exists()


def test_a_checkpoint_from_before_checksums_still_loads_and_resumes(one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    ckpt["version"] = 2  # as version 2 wrote it
    del ckpt["checksum"]
    torch.save(ckpt, out / "last.pt")
    assert main(["eval", "--checkpoint", str(out / "last.pt")]) == 0
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 0
    assert load_checkpoint(out / "last.pt")["version"] == CHECKPOINT_VERSION  # its next one has it


# --- issue 25: a resume never rewrites the metrics log with fewer epochs than it holds -----------------

def test_a_checkpoint_history_shorter_than_its_epochs_keeps_the_logged_ones(one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    logged = (out / "metrics.jsonl").read_text()
    ckpt = torch.load(out / "last.pt", weights_only=True)
    ckpt["history"] = []  # epoch 1, no history: as a crafted (or older) checkpoint may say
    torch.save(seal_checkpoint(ckpt), out / "last.pt")
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 0
    assert "metrics.jsonl keeps epochs 1 as they were" in capsys.readouterr().out
    lines = (out / "metrics.jsonl").read_text().splitlines(keepends=True)
    assert lines[0] == logged and [json.loads(line)["epoch"] for line in lines] == [1, 2]


# --- issue 25: numbers a float32 or a float cannot hold are one error line, never a traceback --------

HUGE = str(10**400)
FLOAT32 = "--forget-bias: must be a finite number float32 can hold"


@pytest.mark.parametrize("argv, message", [
    (["inspect", "--init", "forget-bias", "--forget-bias", "1e308"], FLOAT32),
    (["inspect", "--init", "forget-bias", "--forget-bias", "-1e308"], FLOAT32),
    (["train", *FLAGS, "--init", "forget-bias", "--forget-bias", "1e39", "--out", "{tmp}/run"], FLOAT32),
    (["gradient-flow", "--init", "forget-bias", "--forget-bias", "1e308", "--out", "{tmp}/gf"], FLOAT32),
    (["train", *FLAGS, "--epochs", HUGE, "--out", "{tmp}/run"], "--epochs: must be an integer from 1 to 2**53"),
    (["inspect", "--init", "chrono", "--chrono-t-max", HUGE], "--chrono-t-max: must be an integer from 3 to 2**53"),
    (["gradient-flow", "--init", "chrono", "--chrono-t-max", HUGE, "--out", "{tmp}/gf"],
     "--chrono-t-max: must be an integer from 3 to 2**53"),
    (["inspect", "--hidden-size", HUGE], "e+801 bytes of memory, more than this machine can hold"),
    (["train", *FLAGS, "--hidden-size", HUGE, "--out", "{tmp}/run"], "e+801 bytes of memory, more than this"),
    (["gradient-flow", "--hidden-size", HUGE, "--out", "{tmp}/gf"], "e+801 bytes of memory, more than this"),
    (["gradient-flow", "--batch-size", "100000000000", "--out", "{tmp}/gf"], "of memory, more than this machine"),
])
def test_numbers_beyond_what_the_computation_holds_are_one_error_line(argv, message, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own error line
        code = e.code
    assert code == 2
    assert message in one_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_a_negative_number_in_exponent_form_is_a_value_not_a_flag(capsys):
    assert main(["inspect", "--init", "forget-bias", "--forget-bias", "-1e30", "--hidden-size", "4"]) == 0
    assert "init forget-bias (b_f -1e+30)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--lr", "-1e-3"])
    assert "--lr: must be a finite number > 0, got -1e-3" in one_error(capsys.readouterr().err)


def test_the_forget_bias_is_checked_against_the_biases_dtype():
    from scratch_lstm import LSTM, init_forget_bias

    with pytest.raises(ValueError, match="float32 cannot hold it"):
        init_forget_bias(LSTM(3, 4), 1e39)
    lstm = LSTM(3, 4, dtype=torch.float64)
    init_forget_bias(lstm, 1e39)  # float64 holds it
    with pytest.raises(TrainingError, match="--forget-bias must be a finite number float32 can hold"):
        TrainConfig(init="forget-bias", forget_bias=1e39).validate()
    TrainConfig(init="forget-bias", forget_bias=1e39, dtype="float64").validate()


# --- issue 25: an allocation that fails is one error line, and the folder resumes -------------------

def test_a_failed_allocation_is_one_line_and_the_folder_starts_again_with_less(tmp_path, capsys, monkeypatch):
    from scratch_lstm.app import train as train_module

    def no_memory(*args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                           "memory: you tried to allocate 6144000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(train_module, "train_step", no_memory)
    out = tmp_path / "run"
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out)]) == 2
    err = one_error(capsys.readouterr().err)
    assert err.startswith("error: out of memory (") and "DefaultCPUAllocator: can't allocate memory" in err
    assert (f"No checkpoint was written: `scratch-lstm train --out {out} --resume` starts the run again from "
            "epoch 1. Ask for less: with --resume, a lower --hidden-size") in err
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
    monkeypatch.undo()
    assert main(["train", "--out", str(out), "--resume", "--hidden-size", "4"]) == 0
    assert load_checkpoint(out / "last.pt")["model_config"]["hidden_size"] == 4


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmSize from /proc")
def test_under_an_address_space_limit_the_size_check_counts_what_the_process_holds(tmp_path):
    import resource
    import subprocess
    import sys

    from test_faults import ROOT

    probe = subprocess.run([sys.executable, "-c", "import torch, scratch_lstm.app.train; print(open("
                            "'/proc/self/status').read().split('VmSize:')[1].split()[0])"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    held = int(probe.stdout) * 1024
    limit = held + 2**30  # a GiB beside what the command holds once started
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "scratch_lstm", "train", *FLAGS, "--hidden-size", "3000",
                           "--num-layers", "2", "--threads", "1", "--out", str(out)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    assert proc.returncode == 2, proc.stderr
    err = one_error(proc.stderr)
    assert "more than this machine can hold: what the address-space limit (ulimit -v" in err
    assert not out.exists()


def test_gradient_flow_json_is_strict_where_a_forget_gate_is_exactly_0(tmp_path, capsys):
    out = tmp_path / "gf"  # sigma(-200) is 0 in float32: the forget-gate product is 0, its log10 -inf
    assert main(["gradient-flow", "--init", "forget-bias", "--forget-bias", "-200", "--sequence", "rows",
                 "--hidden-size", "4", "--batch-size", "2", "--out", str(out)]) == 0

    def refuse(token):
        raise ValueError(f"non-strict JSON token {token}")

    flow = json.loads((out / "gradient_flow.json").read_text(), parse_constant=refuse)
    product = flow["models"]["forget-bias (b_f -200)"]["log10_forget_product"][0]
    assert product[:-1] == [None] * 27 and product[-1] == 0.0  # 0 at the last step: the empty product


def test_a_checksum_that_is_there_is_verified_whatever_the_version_says(one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    ckpt["version"] = 2  # one flipped bit: 3 -> 2, a version from before checksums
    ckpt["model"]["lin.bias"][0] += 1  # a second one, in a weight
    torch.save(ckpt, out / "last.pt")
    before = snapshot(out)
    capsys.readouterr()
    for command in (["eval", "--checkpoint", str(out / "last.pt")],
                    ["train", "--out", str(out), "--epochs", "2", "--resume"]):
        assert main(command) == 2
        assert f"{out / 'last.pt'} is damaged" in one_error(capsys.readouterr().err)
    assert snapshot(out) == before


# --- unbounded sizes: what a layer costs beyond its tensors, and every script's sizes -----------------

def test_many_tiny_layers_are_refused_by_what_each_layer_and_step_keeps(monkeypatch, capsys):
    from scratch_lstm import classifier
    from scratch_lstm.app import limits

    monkeypatch.setattr(limits, "memory_limit", lambda device=None: (16 * 2**30, "a 16 GiB limit"))

    def never(*args, **kwargs):
        raise AssertionError("the model was built: the size check let it through")

    monkeypatch.setattr(classifier, "LSTMClassifier", never)
    assert main(["inspect", "--num-layers", "100000", "--hidden-size", "1"]) == 2
    err = one_error(capsys.readouterr().err)
    assert "--num-layers 100000" in err and "what each layer and step keeps beside them" in err


def test_std_bad_alloc_is_out_of_memory_in_one_line(capsys):
    from scratch_lstm.app import command
    from scratch_lstm.app.errors import out_of_memory

    assert out_of_memory(RuntimeError("std::bad_alloc"))

    def body():
        raise RuntimeError("std::bad_alloc")

    assert command.run(body) == 2
    assert one_error(capsys.readouterr().err).startswith("error: out of memory (std::bad_alloc)")


@pytest.mark.parametrize("flag", ["--hidden-size", "--test-size", "--batch-size"])
def test_gate_variants_refuses_sizes_that_cannot_fit_before_anything_runs(flag, tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import gate_variants

    out = tmp_path / "gv"
    assert gate_variants.main(["--out", str(out), flag, str(10**20)]) == 2
    err = one_error(capsys.readouterr().err)
    assert f"{flag} {10**20}" in err and "more than this machine can hold" in err
    assert not out.exists()
