"""Training in two processes (torchrun, gloo, the CPU) against one: the same steps, one writer, one
line when a process dies, and a resume that ends where an uninterrupted run ends.

Each launch is ``python -m torch.distributed.run --standalone`` (a free port of its own), in a
session of its own that the test kills whatever happens, so no process outlives a test. The
reference runs of one process run in this process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from conftest import TOL

from scratch_lstm.app.config import TrainConfig
from scratch_lstm.app.data import Batches
from scratch_lstm.app.lock import check_not_locked
from scratch_lstm.app.runs import RUN_FILES
from scratch_lstm.app.train import train

ROOT = Path(__file__).resolve().parents[1]
# A tiny model on the embedded sample: 67 sequences in batches of 16 are 5 steps an epoch, the
# last batch of 3 split 2 + 1 between the processes (uneven: the loss weights matter).
TINY = {"train_subset": 67, "batch_size": 16, "hidden_size": 8, "num_layers": 2, "threads": 1,
        "log_every": 0.0}


def flags(settings: dict) -> list[str]:
    return [a for k, v in settings.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def torchrun(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 240):
    """``torchrun --standalone --nproc_per_node 2 -m scratch_lstm train ARGS``; the process group
    of the launch (torchrun and its workers) is killed at the end, however it ends."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "scratch_lstm", "train", *args]
    environment = {k: v for k, v in os.environ.items() if k != "SCRATCH_LSTM_FAULT"}
    environment.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})})
    proc = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc.pid)
        proc.wait()
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def kill_group(pid: int) -> None:
    """SIGKILL to the process group of a launch (torchrun and its workers), if any is left."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def lines(result) -> list[str]:
    """Every line of a launch: the processes' and torchrun's own."""
    return (result.stdout + result.stderr).splitlines()


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["model"]


def test_the_shards_of_a_batch_are_the_batch_of_one_process():
    images = torch.arange(67 * 28 * 28, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(67, 28, 28)
    labels = torch.arange(67) % 10

    def batches(shard):
        gen = torch.Generator().manual_seed(3)
        return Batches(images, labels, 16, shuffle=True, generator=gen, shard=shard)

    one = [y for _, y in batches((0, 1))]
    for n in (2, 3):
        parts = [[y for _, y in batches((r, n))] for r in range(n)]
        for k, y in enumerate(one):
            shards = [p[k] for p in parts]
            assert torch.equal(torch.cat(shards), y)  # together, in order: the one-process batch
            assert max(map(len, shards)) - min(map(len, shards)) <= 1
        assert [batches((r, n)).samples() for r in range(n)] == [sum(map(len, p)) for p in parts]
    assert sum(batches((r, 2)).samples() for r in range(2)) == 67 == batches((0, 1)).samples()


@pytest.mark.parametrize("backend", ["scratch", "fused"])
def test_two_processes_take_the_steps_of_one(tmp_path, backend):
    """Same global batch, same order: after the epoch's 5 Adam steps the weights of 2 processes
    (gradients averaged by DistributedDataParallel) are those of 1, to float32's tolerance; the
    test accuracy counts every test image once; rank 0 alone wrote and spoke."""
    settings = {**TINY, "backend": backend, "epochs": 1}
    result = torchrun(flags(settings) + ["--out", "two"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    train(TrainConfig(**settings, out=str(tmp_path / "one")), log=lambda *a: None, progress=False)

    two, one = weights(tmp_path / "two" / "last.pt"), weights(tmp_path / "one" / "last.pt")
    for name in one:
        torch.testing.assert_close(two[name], one[name], **TOL[torch.float32], msg=name)
    start = weights_at_start(settings)
    assert all(not torch.equal(one[k], start[k]) for k in ("lin.weight", "rnn.weight_hh_l1"))  # it trained

    m2 = json.loads((tmp_path / "two" / "metrics.jsonl").read_text())
    m1 = json.loads((tmp_path / "one" / "metrics.jsonl").read_text())
    assert abs(m2["test_acc"] - m1["test_acc"]) <= 1e-3 and abs(m2["train_acc"] - m1["train_acc"]) <= 1 / 67
    assert abs(m2["test_loss"] - m1["test_loss"]) < 1e-4
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["processes"] == 2 and config["batch_size"] == 16
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(RUN_FILES)  # no lock left
    said = lines(result)
    assert sum(line.startswith("epoch 1/1:") for line in said) == 1, said  # rank 0 alone speaks
    assert any("DistributedDataParallel: 2 processes (gloo)" in line for line in said), said


def weights_at_start(settings: dict) -> dict:
    from scratch_lstm import LSTMClassifier

    cfg = TrainConfig(**settings)
    torch.manual_seed(cfg.seed)
    return LSTMClassifier(**cfg.model_config(), backend=cfg.backend).state_dict()


def test_a_killed_process_ends_the_other_in_one_line_and_the_run_resumes_to_the_same_weights(tmp_path):
    """Rank 0 killed (SIGKILL) just after epoch 1's last.pt: rank 1 ends with one line that says
    how to go on; torchrun --resume then ends where an uninterrupted run of two processes ends,
    bit for bit."""
    settings = {**TINY, "epochs": 2, "schedule": "constant"}
    whole = torchrun(flags(settings) + ["--out", "whole"], tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed = torchrun(flags(settings) + ["--out", "run"], tmp_path, env={"SCRATCH_LSTM_FAULT": "after:last.pt#1"})
    assert killed.returncode != 0
    errors = [line for line in lines(killed) if line.startswith("error:")]
    assert len(errors) == 1, lines(killed)
    assert "process 1 of 2" in errors[0] and "--resume" in errors[0] and "(1)" in errors[0], errors
    run = tmp_path / "run"
    check_not_locked(run)  # nobody holds it: the processes are gone
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1

    again = torchrun(["--out", "run", "--resume"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    a, b = weights(run / "last.pt"), weights(tmp_path / "whole" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in b)
    timing = ("seconds", "samples_per_s")
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in m.items() if k not in timing} for m in history] == \
           [{k: v for k, v in m.items() if k not in timing} for m in reference]


def test_ctrl_c_ends_both_processes_in_one_line_and_the_run_resumes(tmp_path):
    """Ctrl-C in a terminal reaches the launch's whole process group: after the first epoch, rank 0
    alone says `error: interrupted.` and what is kept; `--resume` then finishes the run."""
    settings = {**TINY, "epochs": 3, "train_subset": 1600, "batch_size": 32, "hidden_size": 16}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "scratch_lstm", "train", *flags(settings), "--out", "run"]
    environment = {k: v for k, v in os.environ.items() if k != "SCRATCH_LSTM_FAULT"}
    environment.update({"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    proc = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    said, watchdog = [], threading.Timer(240, kill_group, (proc.pid,))  # a launch that hangs: killed
    watchdog.start()
    try:
        for line in proc.stdout:
            said.append(line.rstrip("\n"))
            if line.startswith("epoch 1/3:"):
                os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        proc.wait(timeout=120)
    finally:
        watchdog.cancel()
        kill_group(proc.pid)
        proc.wait()
    assert proc.returncode != 0 and any(line.startswith("epoch 1/3:") for line in said), said
    errors = [line for line in said if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: interrupted.") and "--resume" in errors[0], said
    check_not_locked(tmp_path / "run")
    again = torchrun(["--out", "run", "--resume"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 3


@pytest.mark.parametrize("case", ["folder", "batch"])
def test_an_error_every_process_finds_is_said_once(tmp_path, case):
    """Both processes refuse the run before anything is written, and one line says why: a folder of
    other files (the run folder's checks), or a last batch of 1 for 2 processes (33 = 2 x 16 + 1)."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    settings = {**TINY, "epochs": 1, "train_subset": 67 if case == "folder" else 33}
    result = torchrun(flags(settings) + ["--out", "taken" if case == "folder" else "new"], tmp_path)
    assert result.returncode != 0
    errors = [line for line in lines(result) if line.startswith("error:")]
    expected = "holds files that are not a run's" if case == "folder" else "leave a last batch of 1"
    assert len(errors) == 1 and expected in errors[0], lines(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]


def test_alone_every_hook_leaves_the_run_as_it_was(monkeypatch):
    """Without torchrun (no WORLD_SIZE, or 1) nothing joins a group and every hook is the identity:
    one process trains exactly as before."""
    from scratch_lstm import LSTMClassifier
    from scratch_lstm.app import distributed
    from scratch_lstm.app.errors import TrainingError

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.start() is False and not distributed.several()
    assert (distributed.rank(), distributed.size(), distributed.shard(), distributed.is_main()) == (0, 1, (0, 1), True)
    model = LSTMClassifier(28, 4, 10, 1)
    assert distributed.wrap(model, torch.device("cpu")) is model
    assert distributed.loss_weight(torch.arange(5)) is None
    assert distributed.sum_over(1.5, 2, 3) == (1.5, 2, 3)
    result = {"loss": 0.5, "acc": 0.25, "confusion": [[1, 0], [3, 0]]}
    assert distributed.combine_test(result) is result
    assert distributed.record(128) == {} and distributed.local_device(torch.device("cpu")) == torch.device("cpu")
    distributed.check_batches(3, 2)  # a batch of 1 is fine for one process
    log = print
    assert distributed.quiet_unless_main(log) is log
    assert distributed.agree(lambda: 7) == 7
    with pytest.raises(TrainingError, match="mine"):
        distributed.agree(lambda: (_ for _ in ()).throw(TrainingError("mine")))
    distributed.stopped_by_another(RuntimeError("Connection closed by peer"), lambda: "")  # returns
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.asked() == 1 and distributed.start() is False
