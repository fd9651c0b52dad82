"""Fault injection: each way to poison, strand or crash a run folder, forced and checked.

Every test forces one fault and asserts what the user gets (one ``error:`` line and exit code 2,
never a traceback) and that the files written before the fault are intact. Kills use the
trainer's test hook ``SCRATCH_LSTM_FAULT`` (scratch_lstm/train.py's docstring) in a subprocess,
so a kill is a real SIGKILL between two writes or in the middle of one.

Runs are tiny: 100 samples of the embedded sample, hidden size 8, 2 batches per epoch.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_data import write_split

from scratch_lstm.app import files as files_module
from scratch_lstm.app import runs as runs_module
from scratch_lstm.app import train as train_module
from scratch_lstm.app.checkpoints import CHECKPOINT_VERSION
from scratch_lstm.app.cli import main
from scratch_lstm.app.files import TEMP_MARKER, remove_stale_temp_files, temp_name
from scratch_lstm.app.runs import RUN_FILES

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--dataset", "mnist-sample", "--log-every", "0", "--train-subset", "100", "--hidden-size",
         "8", "--num-layers", "1", "--batch-size", "50"]


def one_error(err: str) -> str:
    """The single error line of ``err`` (an argparse error line counts too); no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def strict_metrics(folder: Path) -> list[dict]:
    """metrics.jsonl read by a strict parser (NaN and Infinity are errors)."""
    def refuse(token):
        raise ValueError(f"non-strict JSON token {token}")
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line, parse_constant=refuse) for line in lines]


def without_timings(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in history]


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["model"]


def assert_same_run(folder: Path, reference: Path) -> None:
    """``folder`` holds exactly the run files of ``reference``, with the same weights and metrics."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(RUN_FILES)  # no temporary file left
    for name in ("last.pt", "best.pt"):
        a, b = weights(folder / name), weights(reference / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
        assert torch.load(folder / name, weights_only=True)["epoch"] == torch.load(
            reference / name, weights_only=True)["epoch"]
    assert without_timings(strict_metrics(folder)) == without_timings(strict_metrics(reference))
    assert json.loads((folder / "summary.json").read_text())["epochs_done"] == 2
    a, b = (torch.load(f / "snapshots.pt", weights_only=True)["epochs"] for f in (folder, reference))
    assert sorted(a) == sorted(b) == [1, 2]  # every epoch's weights, none lost to the kill
    assert all(torch.equal(a[e][k], b[e][k]) for e in a for k in a[e])


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """An uninterrupted 2-epoch run (cosine schedule, the default)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory) -> Path:
    """A 1-epoch run with the constant schedule (so that --resume may add epochs); copy it."""
    out = tmp_path_factory.mktemp("one_epoch") / "run"
    assert main(["train", *FLAGS, "--schedule", "constant", "--epochs", "1", "--out", str(out)]) == 0
    return out


def copy_run(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    (out / "config.json").write_text((run / "config.json").read_text().replace(str(run), str(out)))
    return out


# --- a kill at each point between (and in the middle of) the writes ------------------------------

KILL_POINTS = [
    "after:config.json",             # no checkpoint yet
    "after:snapshots.pt",            # last.pt and snapshots.pt of epoch 1, no best.pt yet
    "before-rename:last.pt",         # epoch 1's last.pt half-done: only a temporary file
    "after:last.pt",                 # no best.pt, no metrics.jsonl yet
    "after:best.pt",                 # no metrics.jsonl yet
    "after:metrics.jsonl",           # no curves.png yet
    "before-rename:snapshots.pt#2",  # last.pt at epoch 2, snapshots.pt still at epoch 1
    "before-rename:metrics.jsonl#2", # last.pt at epoch 2, metrics.jsonl still at epoch 1
    "after:curves.png#2",            # every epoch done, no summary.json (the last write)
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_between_writes_never_strands_the_run_folder(point, straight, tmp_path, capsys):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRATCH_LSTM_FAULT": point}
    proc = subprocess.run([sys.executable, "-m", "scratch_lstm", "train", *FLAGS, "--epochs", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=env)
    assert proc.returncode == -9, proc.stderr  # SIGKILL, as kill -9
    left = snapshot(out)
    if point.startswith("before-rename"):
        assert any(TEMP_MARKER in name for name in left), left.keys()

    # a new run there is refused, saying what to do, and changes nothing
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 2
    assert "pass --resume" in one_error(capsys.readouterr().err)
    assert snapshot(out) == left

    # --resume continues (or starts again, if no epoch had finished) and ends as if never killed
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert_same_run(out, straight)


# --- non-finite weights, losses and learning rates ---------------------------------------------

@pytest.mark.parametrize("where", ["parameter", "adam state"])
def test_non_finite_weights_never_reach_a_checkpoint(where, one_epoch, tmp_path, capsys, monkeypatch):
    out = copy_run(one_epoch, tmp_path)
    flags = [*FLAGS, "--schedule", "constant", "--out", str(out)]
    before = snapshot(out)
    real, calls = train_module.train_step, []

    def poisoned(model, optimizer, x, y, cfg):
        loss, logits = real(model, optimizer, x, y, cfg)
        calls.append(1)
        if len(calls) == 2:  # the last step of epoch 2: its loss is finite, the weights are not
            with torch.no_grad():
                if where == "parameter":
                    next(model.parameters())[0] = float("nan")
                else:
                    next(iter(optimizer.state.values()))["exp_avg_sq"].fill_(float("inf"))
        return loss, logits

    monkeypatch.setattr(train_module, "train_step", poisoned)
    capsys.readouterr()
    assert main(["train", *flags, "--epochs", "3", "--resume"]) == 2
    err = one_error(capsys.readouterr().err)
    assert "non-finite in epoch 2" in err and f"{out / 'last.pt'} keeps the last good epoch (1)" in err
    assert snapshot(out) == {**before, "config.json": snapshot(out)["config.json"]}
    assert json.loads((out / "config.json").read_text())["epochs"] == 3


def test_a_nan_loss_after_good_epochs_keeps_best_and_last_intact(one_epoch, tmp_path, capsys, monkeypatch):
    out = copy_run(one_epoch, tmp_path)
    flags = [*FLAGS, "--schedule", "constant", "--out", str(out)]
    before = {name: data for name, data in snapshot(out).items() if name != "config.json"}
    real = train_module.F.cross_entropy
    monkeypatch.setattr(train_module.F, "cross_entropy",
                        lambda logits, y, **kw: real(logits, y, **kw) * float("nan"))
    assert main(["train", *flags, "--epochs", "2", "--resume"]) == 2
    assert "loss became nan at epoch 2, batch 1" in one_error(capsys.readouterr().err)
    assert {n: d for n, d in snapshot(out).items() if n != "config.json"} == before
    assert all(torch.isfinite(t).all() for t in weights(out / "best.pt").values())


@pytest.mark.parametrize("lr, message", [
    ("1e37", "became inf after epoch 1"),  # one batch: finite loss, infinite weights or test loss
    ("1e38", "the optimizer step overflowed float32"),  # used to be a traceback inside Adam
])
def test_divergence_in_the_first_epoch_says_that_no_checkpoint_exists(lr, message, tmp_path, capsys):
    out = tmp_path / "run"
    args = [*FLAGS, "--train-subset", "50", "--epochs", "2", "--lr", lr, "--out", str(out)]
    assert main(["train", *args]) == 2
    err = one_error(capsys.readouterr().err)
    assert "No checkpoint was written" in err
    assert message in err
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]  # no checkpoint, no NaN log


# --- data swapped on resume ------------------------------------------------------------------

def test_resume_on_other_data_is_refused_with_old_and_new(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    write_split(a, n_train=60, n_test=20, seed=0)
    write_split(b, n_train=60, n_test=20, seed=1)
    out = tmp_path / "run"
    run = ["train", *FLAGS, "--schedule", "constant", "--out", str(out)]  # FLAGS' dataset is replaced
    assert main([*run, "--epochs", "1", "--dataset", "mnist", "--data-dir", str(a)]) == 0
    before = snapshot(out)
    capsys.readouterr()
    for data, now in ((["--dataset", "mnist", "--data-dir", str(b)], f"now mnist from {b}"),
                      (["--dataset", "mnist-sample"], "now mnist-sample from embedded sample")):
        assert main([*run, "--epochs", "2", *data, "--resume"]) == 2
        err = one_error(capsys.readouterr().err)
        assert f"was trained on other data: mnist from {a} (fingerprint " in err and now in err
        assert f"pass the --data-dir that holds it (it was {a})" in err
        assert snapshot(out) == before
    assert main([*run, "--epochs", "2", "--dataset", "mnist", "--data-dir", str(a), "--resume"]) == 0
    # without data flags, the run's own data (its --data-dir) is used
    assert main(["train", "--out", str(out), "--epochs", "3", "--resume"]) == 0
    assert f"data: mnist from {a}" in capsys.readouterr().out


def test_a_version_1_checkpoint_still_loads_and_resumes_by_dataset_name(one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    flags = [*FLAGS, "--schedule", "constant", "--out", str(out)]
    ckpt = torch.load(out / "last.pt", weights_only=True)
    for key in ("data", "history", "best_epoch", "checksum"):
        del ckpt[key]
    for setting in ("cuda_graph", "threads"):  # settings version 1 predates: their defaults
        del ckpt["config"][setting]
    ckpt["version"] = 1
    torch.save(ckpt, out / "last.pt")
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "last.pt")]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["gates", "--checkpoint", str(out / "last.pt"), "--out", str(tmp_path / "gates")]) == 0
    assert (tmp_path / "gates" / "gates.json").exists()
    assert main(["train", *flags, "--epochs", "2", "--resume"]) == 0
    text = capsys.readouterr().out
    assert "predates data fingerprints" in text
    new = torch.load(out / "last.pt", weights_only=True)
    assert new["version"] == CHECKPOINT_VERSION and new["epoch"] == 2 and new["data"]["name"] == "mnist-sample"
    assert [m["epoch"] for m in strict_metrics(out)] == [1, 2]  # epoch 1 kept from metrics.jsonl


def test_a_version_1_checkpoint_on_another_dataset_is_refused(one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    del ckpt["data"], ckpt["checksum"]
    ckpt["version"], ckpt["dataset"] = 1, "fashion-mnist"
    torch.save(ckpt, out / "last.pt")
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", *FLAGS, "--epochs", "2", "--schedule", "constant", "--out", str(out),
                 "--resume"]) == 2
    assert "trained on other data: fashion-mnist; now mnist-sample" in one_error(capsys.readouterr().err)
    assert snapshot(out) == before


# --- stranded folders --------------------------------------------------------------------------

def test_missing_metrics_is_rebuilt_from_the_checkpoint(straight, tmp_path):
    out = copy_run(straight, tmp_path)
    (out / "metrics.jsonl").unlink()
    (out / "summary.json").unlink()
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert_same_run(out, straight)


def test_a_folder_with_files_but_no_checkpoint_starts_again_on_resume(straight, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 0
    for name in ("last.pt", "best.pt", "curves.png", "summary.json", "snapshots.pt"):  # a run whose epochs are gone
        (out / name).unlink()
    capsys.readouterr()
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 2
    assert "finished no epoch (config.json, metrics.jsonl, no last.pt); pass --resume" in one_error(
        capsys.readouterr().err)
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert "starts again from epoch 1" in capsys.readouterr().out
    assert_same_run(out, straight)


def test_a_config_json_without_a_runs_settings_is_no_run(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}\n")  # another program's, or nobody's: not a run's settings
    (out / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": NaN}\n')
    before = snapshot(out)
    for extra in ([], ["--resume"]):
        assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out), *extra]) == 2
        assert "holds files that are not a run's (config.json, metrics.jsonl)" in one_error(capsys.readouterr().err)
    assert snapshot(out) == before


def test_only_temporary_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    ours_dead = [temp_name("last.pt", int(dead)), temp_name("best.pt", os.getpid())]
    kept = [temp_name("metrics.jsonl", os.getppid()),  # its writer is alive
            temp_name("thesis.tex", int(dead)),  # not a run file's name
            f".last.pt.tmp-{dead}", ".thesis.tex.tmp-99999", "notes.tmp-1", "last.pt"]  # not ours
    for name in ours_dead + kept:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temp_files(tmp_path, RUN_FILES)
    assert removed == sorted(ours_dead)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


# --- bad --out, for train and gates --------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out)]) == 0
    return out / "last.pt"


def out_cases(tmp_path: Path) -> dict:
    (tmp_path / "file").write_text("not a folder")
    return {"an existing file": (tmp_path / "file", "is a file, not a folder"),
            "under a file": (tmp_path / "file" / "run", f"lies under {tmp_path / 'file'}, which is a file")}


@pytest.mark.parametrize("case", ["an existing file", "under a file"])
@pytest.mark.parametrize("command", ["train", "gates"])
def test_an_out_that_cannot_be_a_folder_is_one_error_line(case, command, checkpoint, tmp_path, capsys):
    out, message = out_cases(tmp_path)[case]
    before = snapshot(tmp_path)
    argv = (["train", *FLAGS, "--epochs", "1"] if command == "train" else
            ["gates", "--checkpoint", str(checkpoint)]) + ["--out", str(out)]
    assert main(argv) == 2
    assert message in one_error(capsys.readouterr().err)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["train", "gates"])
def test_an_unwritable_out_is_one_error_line(command, checkpoint, tmp_path, capsys, monkeypatch):
    # in-process, with the permission check made to fail (root writes through chmod);
    # test_an_unwritable_out_by_chmod covers the real thing in a subprocess.
    monkeypatch.setattr(runs_module.os, "access", lambda path, mode: False)
    argv = (["train", *FLAGS, "--epochs", "1"] if command == "train" else
            ["gates", "--checkpoint", str(checkpoint)]) + ["--out", str(tmp_path / "ro" / "run")]
    assert main(argv) == 2
    assert f"cannot write in {tmp_path} (permission denied)" in one_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("command", ["train", "gates"])
def test_an_unwritable_out_by_chmod(command, checkpoint, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    argv = (["train", *FLAGS, "--epochs", "1"] if command == "train" else
            ["gates", "--checkpoint", str(checkpoint)]) + ["--out", str(ro / "run")]
    cmd = [sys.executable, "-m", "scratch_lstm", *argv]
    if os.geteuid() == 0:  # root (CI) writes through chmod: run without its capabilities
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.stderr.startswith("setpriv:"):
        pytest.skip(f"cannot drop capabilities here: {proc.stderr.strip()}")
    assert proc.returncode == 2
    assert f"cannot write in {ro} (permission denied)" in one_error(proc.stderr)
    ro.chmod(0o700)
    assert list(ro.iterdir()) == []


# --- bad data: one error line, nothing created -----------------------------------------------------

def corrupt_gzip_body(folder: Path) -> None:
    path = folder / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[20:60] = bytes(40)
    path.write_bytes(bytes(raw))


def overflowing_dims(folder: Path) -> None:
    dims = b"".join((2**31).to_bytes(4, "big") for _ in range(3))
    (folder / "train-images-idx3-ubyte.gz").unlink()
    (folder / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 0x08, 3]) + dims + bytes(784))


@pytest.mark.parametrize("fault, message", [
    (lambda folder: write_split(folder, n_train=0), "holds no images"),
    (corrupt_gzip_body, "cannot read or decompress"),
    (overflowing_dims, "truncated or padded: header declares shape (2147483648"),
])
def test_bad_data_files_are_one_error_line_and_create_nothing(fault, message, tmp_path, capsys):
    data = tmp_path / "data"
    write_split(data)
    fault(data)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(out)]) == 2
    assert message in one_error(capsys.readouterr().err)
    assert not out.exists()


def test_an_out_of_range_dropout_creates_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", *FLAGS, "--dropout", "2", "--out", str(tmp_path / "run")])
    assert e.value.code == 2
    assert "--dropout: must be a probability in [0, 1]" in one_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


# --- a full disk -----------------------------------------------------------------------------

@pytest.mark.parametrize("victim, kept_epoch", [("last.pt", 1), ("metrics.jsonl", 2), ("summary.json", 2)])
def test_a_full_disk_is_one_error_line_and_keeps_the_files(victim, kept_epoch, one_epoch, tmp_path, capsys,
                                                           monkeypatch):
    out = copy_run(one_epoch, tmp_path)
    flags = [*FLAGS, "--schedule", "constant", "--out", str(out)]
    before = snapshot(out)

    class FullDisk:  # a file whose write fails half-way, as on a full disk
        def __init__(self, fh):
            self.fh, self.budget = fh, 100

        def write(self, data):
            if len(data) > self.budget:
                self.fh.write(bytes(data)[: self.budget])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.budget -= len(data)
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def full_disk_open(path, mode="r", *args, **kwargs):
        fh = open(path, mode, *args, **kwargs)
        return FullDisk(fh) if Path(path).name.startswith(f".{victim}.{TEMP_MARKER}-") else fh

    monkeypatch.setattr(files_module, "open", full_disk_open, raising=False)
    capsys.readouterr()
    assert main(["train", *flags, "--epochs", "2", "--resume"]) == 2
    err = one_error(capsys.readouterr().err)
    assert f"could not write {out / victim}: No space left on device" in err
    assert f"keeps the last good epoch ({kept_epoch})" in err
    after = snapshot(out)
    assert not [name for name in after if TEMP_MARKER in name]
    assert after[victim] == before[victim]  # the file that could not be written is the old one
    if victim == "last.pt":
        assert {n: d for n, d in after.items() if n != "config.json"} == {
            n: d for n, d in before.items() if n != "config.json"}
    monkeypatch.undo()
    assert main(["train", *flags, "--epochs", "2", "--resume"]) == 0  # and the run goes on
    assert [m["epoch"] for m in strict_metrics(out)] == [1, 2]


def test_json_written_by_the_trainer_is_strict(tmp_path):
    from scratch_lstm.app.files import save_json

    with pytest.raises(ValueError):
        save_json(tmp_path / "x.json", {"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []
