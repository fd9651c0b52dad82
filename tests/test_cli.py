"""The scratch-lstm command line end to end, on the embedded sample."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scratch_lstm.app import train as train_module
from scratch_lstm.app.cli import build_parser, main
from scratch_lstm.app.limits import cpu_count

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--dataset", "mnist-sample", "--log-every", "0"]
TINY = SMALL + ["--train-subset", "600", "--hidden-size", "16", "--num-layers", "2",
                "--dropout", "0.3", "--batch-size", "50"]
MICRO = SMALL + ["--train-subset", "100", "--hidden-size", "8", "--num-layers", "1",
                 "--batch-size", "50"]


def read_metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def error_lines(text):
    return [line for line in text.splitlines() if line.startswith("error:")]


def run_cli(args, cwd):
    """``python -m scratch_lstm`` in a subprocess that imports this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "scratch_lstm", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def test_train_on_the_sample_learns_and_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    # Measured: with the default cosine schedule, 85.4% test accuracy on the sample in 3 epochs
    # (chance: 10%).
    assert main(["train", *SMALL, "--hidden-size", "48", "--num-layers", "1", "--epochs", "3",
                 "--batch-size", "50", "--lr", "3e-3", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("data: mnist-sample from the embedded sample")
    assert lines[1].startswith("CPU threads: ")
    assert lines[2] == f"run folder: {out}"
    assert lines[-1].startswith("test accuracy:")
    metrics = read_metrics(out)
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert set(metrics[0]) >= {"epoch", "train_loss", "train_acc", "test_loss", "test_acc",
                               "seconds", "samples_per_s"}
    assert metrics[-1]["test_acc"] >= 0.80
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "mnist-sample" and summary["final_test_acc"] == metrics[-1]["test_acc"]
    assert json.loads((out / "config.json").read_text())["hidden_size"] == 48
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(out / name, weights_only=True)
        assert set(ckpt["model"]) >= {"rnn.weight_ih_l0", "lin.weight"}
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_auto_without_data_dir_announces_the_sample_first(tmp_path, capsys):
    assert main(["train", "--train-subset", "100", "--hidden-size", "8", "--num-layers", "1",
                 "--epochs", "1", "--log-every", "0", "--out", str(tmp_path / "run")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "embedded sample" in first and "no --data-dir given" in first
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["dataset"] == "mnist-sample"


def test_a_data_dir_that_holds_no_data_is_an_error_not_the_sample(tmp_path, capsys):
    full = tmp_path / "shared" / "data" / "MNIST" / "raw"
    from test_data import write_split

    write_split(full)
    cases = {  # what was given -> what the message must say
        tmp_path / "shared" / "dta": ["--data-dir", "does not exist", str(tmp_path / "shared" / "data")],
        tmp_path / "shared": ["Looked in:", str(tmp_path / "shared" / "MNIST" / "raw"),
                              f"pass --data-dir {tmp_path / 'shared' / 'data'}"],
        full / "t10k-labels-idx1-ubyte.gz": ["is a file, not a folder", f"pass --data-dir {full}"],
    }
    for data_dir, expected in cases.items():
        out = tmp_path / "run"
        assert main(["train", "--data-dir", str(data_dir), "--epochs", "1", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(error_lines(err)) == 1 and "Traceback" not in err
        for text in expected:
            assert text in err, (data_dir, text, err)
        assert not out.exists()  # nothing created


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    # a constant-rate run may grow; tests/test_faults.py resumes cosine runs after kills
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    flags = [*TINY, "--schedule", "constant"]
    assert main(["train", *flags, "--epochs", "2", "--out", str(straight)]) == 0
    assert main(["train", *flags, "--epochs", "1", "--out", str(resumed)]) == 0
    assert main(["train", *flags, "--epochs", "2", "--out", str(resumed), "--resume"]) == 0
    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(resumed / "last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    def strip(ms):
        return [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in ms]

    assert strip(read_metrics(straight)) == strip(read_metrics(resumed))


def test_existing_run_is_not_overwritten_and_resume_checks_flags(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", *MICRO, "--epochs", "1", "--out", str(out)]) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(["train", *MICRO, "--epochs", "1", "--lr", "0.1", "--seed", "3", "--out", str(out),
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert "other settings: --lr 0.001 (now 0.1); --seed 0 (now 3)" in err
    assert len(error_lines(err)) == 1


def test_runs_without_out_get_new_numbered_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for n in (1, 2):
        assert main(["train", *MICRO, "--epochs", "1"]) == 0
        assert f"run folder: {Path('runs') / f'exp{n}'}" in capsys.readouterr().out.splitlines()[2]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["exp1", "exp2"]
    config = json.loads((tmp_path / "runs" / "exp2" / "config.json").read_text())
    assert config["out"] == str(Path("runs/exp2"))
    assert main(["train", *MICRO, "--epochs", "1", "--out", "runs/exp1"]) == 2  # explicit: refused
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", *MICRO, "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err


def test_resume_with_nothing_left_to_train_says_so_and_leaves_the_config(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "2", "--schedule", "constant", "--out", str(out)]) == 0
    config = (out / "config.json").read_bytes()
    capsys.readouterr()
    assert main(["train", *MICRO, "--epochs", "1", "--schedule", "constant", "--out", str(out),
                 "--resume"]) == 0
    text = capsys.readouterr().out
    assert "nothing to train" in text and "has finished 2 epochs and --epochs is 1" in text
    assert "pass --epochs 3 or more" in text
    assert (out / "config.json").read_bytes() == config
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2


def test_a_cosine_run_cannot_be_stretched_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "1", "--out", str(out)]) == 0  # cosine: the default
    capsys.readouterr()
    assert main(["train", *MICRO, "--epochs", "3", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "cosine" in err and "--epochs 1" in err and "start a new run with --epochs 3" in err
    assert len(read_metrics(out)) == 1


def test_torch_checkpoint_evaluates_the_same_on_the_scratch_backend(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--backend", "torch", "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    accs = []
    for backend in ("torch", "scratch", "fused"):
        assert main(["eval", "--checkpoint", str(out / "last.pt"), "--dataset", "mnist-sample",
                     "--backend", backend]) == 0
        text = capsys.readouterr().out
        assert "confusion matrix (rows: true class, columns: predicted):" in text
        accs.append(next(line for line in text.splitlines() if line.startswith("test accuracy")))
    assert accs[0] == accs[1] == accs[2]
    assert f"{100 * read_metrics(out)[-1]['test_acc']:.2f}%" in accs[0]
    # without --dataset, eval uses the dataset the checkpoint was trained on
    assert main(["eval", "--checkpoint", str(out / "last.pt")]) == 0
    assert "data: mnist-sample test split" in capsys.readouterr().out


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real = train_module.F.cross_entropy
    calls = {"n": 0}

    def flaky(logits, y, **kw):
        calls["n"] += 1
        loss = real(logits, y, **kw)
        return loss * float("nan") if calls["n"] == 16 else loss  # in epoch 2's training

    monkeypatch.setattr(train_module.F, "cross_entropy", flaky)
    assert main(["train", *TINY, "--epochs", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "loss became nan at epoch 2" in err and f"{out / 'last.pt'} keeps the last good epoch (1)" in err
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    assert [m["epoch"] for m in read_metrics(out)] == [1]


def test_missing_data_offline_is_a_message_not_a_traceback(tmp_path):
    proc = run_cli(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data")], cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: mnist not found")
    for stem in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert stem in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no runs/ folder either


def test_eval_missing_data_message_suggests_only_what_eval_can_do(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "last.pt"), "--dataset", "mnist", "--data-dir",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: mnist not found") and "--dataset mnist-sample" in err
    assert "to train" not in err and "train on" not in err


@pytest.mark.parametrize("argv, message", [
    (["eval", "--checkpoint", "missing.pt", "--dataset", "mnist-sample"], "does not exist"),
    (["train", "--device", "cuda" if not torch.cuda.is_available() else "mps", "--dataset",
      "mnist-sample"], "is not available here"),
])
def test_user_mistakes_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and error_lines(err) == [err.strip()]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag, value, message", [
    ("--epochs", "0", "must be an integer from 1 to 2**53"),
    ("--epochs", "ten", "must be an integer from 1 to 2**53 (9,007,199,254,740,992), got ten"),
    ("--dropout", "2", "must be a probability in [0, 1]"),
    ("--lr", "inf", "must be a finite number > 0"),
    ("--lr", "0", "must be a finite number > 0"),
    ("--grad-clip", "nan", "must be a finite number >= 0"),
    ("--seed", "-1", "must be an integer from 0 to 2**64 - 1"),
])
def test_bad_flag_values_are_rejected_by_argparse(flag, value, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", flag, value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and len(err.strip().splitlines()[-1:]) == 1


def test_bad_values_from_the_api_are_refused_before_anything_is_created(tmp_path):
    from scratch_lstm.app.config import TrainConfig
    from scratch_lstm.app.errors import TrainingError
    from scratch_lstm.app.train import train

    for bad in ({"dropout": 2.0}, {"lr": float("nan")}, {"epochs": 0}, {"schedule": "step"},
                {"train_subset": 0}, {"seed": True}):
        with pytest.raises(TrainingError, match="must be"):
            train(TrainConfig(dataset="mnist-sample", out=str(tmp_path / "run"), **bad))
    assert not (tmp_path / "run").exists()


def test_every_flag_of_every_subcommand_has_help_and_shows_its_default():
    parser = build_parser()
    assert not parser.allow_abbrev
    assert set(parser.subparsers) == {"train", "eval", "inspect", "bench", "gates", "gradient-flow", "explore"}
    for name, sub in parser.subparsers.items():
        assert not sub.allow_abbrev, name
        assert sub.description, name
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if action.option_strings == ["-h", "--help"]:
                continue
            assert action.help, (name, action.dest)
            if action.default not in (None, False):
                shown = f"(default: {action.default})" in text or "default:" in action.help
                assert shown, (name, action.dest)


@pytest.mark.parametrize("argv, usage, hint", [
    (["train", "--trian-subset", "5"], "usage: scratch-lstm train", "did you mean --train-subset?"),
    (["train", "--epoch", "3"], "usage: scratch-lstm train", "did you mean --epochs?"),
    (["eval", "--checkpoint", "x.pt", "--batch", "10"], "usage: scratch-lstm eval", "--batch"),
    (["bench", "--repeat", "1"], "usage: scratch-lstm bench", "did you mean --repeats?"),
])
def test_a_mistyped_flag_prints_its_subcommands_usage(argv, usage, hint, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith(usage) and hint in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_bench_on_a_missing_gpu_is_one_error_line(capsys, tmp_path):
    assert main(["bench", "--device", "cuda", "--config", "lecture", "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == [err.strip()] and "--device cuda" in err and "not available" in err
    assert main(["bench", "--device", "cpu", "--json", str(tmp_path / "no" / "b.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_progress_is_a_bar_on_a_terminal_and_lines_in_a_log(capsys):
    from scratch_lstm.app.progress import with_progress

    lines = []
    assert list(with_progress(range(3), "pass", bar=False, log=lines.append, every=1e-9,
                              status=lambda: "ok")) == [0, 1, 2]
    assert lines == ["  pass [1/3] ok", "  pass [2/3] ok", "  pass [3/3] ok"]
    lines.clear()
    assert list(with_progress(range(3), "quiet", bar=False, log=lines.append, every=0)) == [0, 1, 2]
    assert lines == []
    assert list(with_progress(range(3), "bar", bar=True, log=lines.append, status=lambda: "ok")) == [0, 1, 2]
    assert lines == [] and "bar" in capsys.readouterr().err  # tqdm draws on stderr


def test_a_long_epoch_logs_progress_with_a_run_eta(tmp_path, capsys):
    out = tmp_path / "run"
    flags = [f for f in MICRO if f not in ("--log-every", "0")]
    assert main(["train", *flags, "--epochs", "2", "--log-every", "1e-9", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "  epoch 1/2 [1/2] loss" in text and "run ETA" in text
    assert "  test after epoch 1 [1/1]" in text
    assert "epoch 1/2: train loss" in text


def test_inspect_prints_the_walk_through_in_the_projects_notation(capsys):
    assert main(["inspect", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("CPU threads: 1 (--threads 1)\n")
    assert "x (B, T, I) -> rnn_out (B, T, H), hn, cn (K, B, H)" in text
    assert "x (2, 20, 28) -> rnn_out (2, 20, 256)" in text
    assert "hn (2, 2, 256), cn (2, 2, 256)  (K=2 layers, B=2, H=256)" in text
    assert "Total number of parameters:[821,770]." in text
    mapped = "[the lecture writes N, L, Q, D for B, T, I, H]"
    assert mapped in text
    assert not re.search(r"N x L|D=\d|\bQ\b", text.replace(mapped, ""))  # the lecture's letters only there
    assert main(["inspect", "--num-layers", "1", "--hidden-size", "4", "--threads", "1"]) == 0
    assert "hn (1, 2, 4), cn (1, 2, 4)  (K=1 layer, B=2, H=4)" in capsys.readouterr().out


def test_inspects_help_names_the_sizes_in_the_projects_notation(capsys):
    with pytest.raises(SystemExit):
        main(["inspect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, letter in [("--input-size", "I"), ("--hidden-size", "H"), ("--num-layers", "K"),
                         ("--batch-size", "B"), ("--seq-len", "T")]:
        assert re.search(rf"{flag} \S+ [^-]*\({letter}\)", text), flag
    assert "(D)" not in text and "(N)" not in text and "(Q)" not in text and "(L)" not in text
    assert "--threads N" in text


def test_the_lecture_is_never_called_the_seed_where_a_user_reads():
    """The lecture note this project grew from is "the lecture"; "seed" is only the random seed."""
    import re

    misuse = re.compile(r"\bseed(?:'s| model| note| configuration| network| lecture| rnn)\b|as in the seed\b"
                        r"|seed_rnn|the seed\)", re.IGNORECASE)
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for folder in ("scratch_lstm", "benchmarks", "scripts", "reference")
             for path in sorted((ROOT / folder).rglob("*")) if path.suffix in (".py", ".sh")
             for n, line in enumerate(path.read_text().splitlines(), 1) if misuse.search(line)]
    assert found == []


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from scratch_lstm.app.files import atomic_write_bytes, save_json

    path = tmp_path / "metrics.json"
    save_json(path, {"epoch": 1})

    def broken(fh):
        fh.write(b'{"epo')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, broken)
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temp file left


def test_resolve_device_and_checkpoint_model_round_trip(tmp_path):
    from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint
    from scratch_lstm.app.config import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(1)}, bad)
    with pytest.raises(train_module.TrainingError, match="not a scratch-lstm checkpoint"):
        load_checkpoint(bad)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(train_module.TrainingError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out / "best.pt")
    model = model_from_checkpoint(ckpt, backend="torch")
    assert isinstance(model.rnn, torch.nn.LSTM) and model.rnn.hidden_size == 16


def test_train_step_is_one_adam_step_and_state_is_finite_sees_adam_too():
    from scratch_lstm.app.checkpoints import state_is_finite
    from scratch_lstm.app.config import TrainConfig
    from scratch_lstm.app.train import train_step
    from scratch_lstm.classifier import LSTMClassifier

    torch.manual_seed(0)
    x, y = torch.randn(4, 5, 3), torch.tensor([0, 1, 2, 1])
    ours = LSTMClassifier(3, 6, 3, 1)
    ref = LSTMClassifier(3, 6, 3, 1)
    ref.load_state_dict(ours.state_dict())
    opt_ours = torch.optim.Adam(ours.parameters(), 1e-2)
    opt_ref = torch.optim.Adam(ref.parameters(), 1e-2)
    loss, logits = train_step(ours, opt_ours, x, y, TrainConfig(grad_clip=0.5))
    ref_logits = ref(x)
    ref_loss = torch.nn.functional.cross_entropy(ref_logits, y)
    ref_loss.backward()
    torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
    opt_ref.step()
    assert not loss.requires_grad and not logits.requires_grad
    torch.testing.assert_close(loss, ref_loss.detach(), rtol=0, atol=0)
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert state_is_finite(ours, opt_ours)
    next(iter(opt_ours.state.values()))["exp_avg"][0] = float("nan")
    assert not state_is_finite(ours, opt_ours)


def test_counts_are_worded_in_the_singular_and_plural():
    from scratch_lstm.app.progress import plural

    assert [plural(n, "epoch") for n in (0, 1, 2, 1234)] == ["0 epochs", "1 epoch", "2 epochs",
                                                              "1,234 epochs"]


# ---- the training step never waits on the host; the float32 precision of a run -----------

def test_a_training_step_never_reads_a_number_off_the_device(tmp_path, monkeypatch):
    """Steps record their loss and accuracy on the device (StepTally); only a log line or the end
    of the epoch reads them, all at once: no ``.item()`` in the trainer while training (Adam's
    own reads its step count, which lives on the CPU)."""
    real_item = torch.Tensor.item

    def refused(self):
        assert sys._getframe(1).f_code.co_filename != train_module.__file__, (
            "a training step read a number off the device")
        return real_item(self)

    real_evaluate = train_module.evaluate
    monkeypatch.setattr(train_module, "evaluate", lambda model, batches: (
        monkeypatch.undo() or real_evaluate(model, batches)))  # the test pass may read
    monkeypatch.setattr(torch.Tensor, "item", refused)
    assert main(["train", *MICRO, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0


def test_step_tally_sums_as_the_steps_did_and_names_the_first_non_finite_loss():
    tally = train_module.StepTally(4, torch.device("cpu"))
    assert tally.read() == (0.0, 0, 0, None)
    losses = [0.7, 0.25, float("nan"), float("inf")]
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    for k, loss in enumerate(losses[:2]):
        tally.add(torch.tensor(loss, dtype=torch.float64), logits, torch.tensor([0, 1, k]))
    expected = 0.0
    for loss in losses[:2]:
        expected += loss * 3
    assert tally.read() == (expected, 3 + 2, 6, None)
    for loss in losses[2:]:
        tally.add(torch.tensor(loss, dtype=torch.float64), logits, torch.tensor([0, 0, 0]))
    loss_sum, correct, seen, bad = tally.read()
    assert (correct, seen) == (5 + 2 + 2, 12) and bad[0] == 2 and bad[1] != bad[1]  # nan


def test_status_at_most_every_reads_once_a_period():
    calls = []
    status = train_module.at_most_every(3600.0, lambda: calls.append(1) or f"read {len(calls)}")
    assert [status() for _ in range(5)] == ["read 1"] * 5 and calls == [1]


def test_precision_is_a_flag_written_to_the_config_and_harmless_on_the_cpu(tmp_path, capsys):
    from scratch_lstm.precision import fp32_precision, matmul_precision

    out = tmp_path / "run"
    with fp32_precision("ieee"):  # the trainer sets it for the process: put it back after
        assert main(["train", *MICRO, "--epochs", "1", "--precision", "tf32", "--out", str(out)]) == 0
        assert matmul_precision() == "tf32"
    assert json.loads((out / "config.json").read_text())["precision"] == "tf32"
    from scratch_lstm.app.config import TrainConfig
    from scratch_lstm.app.errors import TrainingError

    with pytest.raises(TrainingError, match="--precision must be one of ieee, tf32, got 'bf16'"):
        TrainConfig(precision="bf16").validate()


def test_a_run_saved_before_the_precision_flag_resumes_as_ieee(tmp_path, capsys):
    out = tmp_path / "run"
    flags = [*MICRO, "--schedule", "constant", "--out", str(out)]
    assert main(["train", *flags, "--epochs", "1"]) == 0
    ckpt = torch.load(out / "last.pt", weights_only=True)
    del ckpt["config"]["precision"]  # as an older version wrote it (version 2: no checksum)
    ckpt["version"] = 2
    del ckpt["checksum"]
    torch.save(ckpt, out / "last.pt")
    capsys.readouterr()
    assert main(["train", *flags, "--epochs", "2", "--precision", "tf32", "--resume"]) == 2
    assert "--precision ieee (now tf32)" in capsys.readouterr().err
    assert main(["train", *flags, "--epochs", "2", "--resume"]) == 0
    assert json.loads((out / "config.json").read_text())["precision"] == "ieee"


def test_resume_takes_the_runs_settings_and_checks_only_the_flags_given(tmp_path, capsys):
    """After `train --epochs 1 --train-subset 60 --out r`, `train --out r --resume`
    continues with the run's settings; a flag given must agree (old and new value named)."""
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--schedule", "constant", "--train-subset", "60", "--lr", "0.002",
                 "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", "--out", str(out), "--resume"]) == 0  # nothing left: said, not refused
    assert "nothing to train" in capsys.readouterr().out
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["train_subset"], config["lr"], config["hidden_size"], config["epochs"]) == (60, 0.002, 8, 2)
    assert "60 training sequences" in capsys.readouterr().out
    assert main(["train", "--out", str(out), "--epochs", "2", "--hidden-size", "8", "--resume"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--train-subset", "2560", "--resume"]) == 2
    err = capsys.readouterr().err
    assert error_lines(err) == [f"error: --resume: {out / 'last.pt'} was trained with other settings: "
                                "--train-subset 60 (now 2560). Resume with the checkpoint's values; only "
                                "--epochs, --log-every, --device, --data-dir, --download, --dataset, "
                                "--cuda-graph, --threads may change (--epochs only to grow a constant "
                                "schedule; the data flags only to find the same data elsewhere)"]


def test_the_flags_a_resume_may_change_are_named_from_the_rule_that_decides():
    """The refusal and --resume's help name exactly the flags whose other value is not refused."""
    from dataclasses import fields, replace

    from scratch_lstm.app.config import TrainConfig
    from scratch_lstm.app.resume import _changed, _saved_settings, free_flags

    saved = _saved_settings({})
    other = {"dataset": "mnist", "data_dir": "d", "download": True, "sequence": "pixels", "backend": "fused",
             "device": "cpu", "dtype": "float64", "schedule": "constant", "cuda_graph": "on",
             "precision": "tf32", "init": "chrono", "threads": 1, "train_subset": 9, "forget_bias": 2.0,
             "chrono_t_max": 9, "out": "r", "resume": True}
    may_differ = set()
    for f in fields(TrainConfig):
        value = other.get(f.name, 7 if isinstance(saved[f.name], int) else 0.5)
        assert value != saved[f.name], f.name
        if not _changed(replace(TrainConfig(), **{f.name: value}), saved, {f.name}):
            may_differ.add("--" + f.name.replace("_", "-"))
    assert set(free_flags()) == may_differ - {"--out", "--resume"}  # the invocation's own: not settings
    help_text = " ".join(build_parser().subparsers["train"].format_help().split())
    assert f"except {', '.join(free_flags())} (--epochs only to grow" in help_text


def test_given_flags_are_the_ones_on_the_command_line():
    from scratch_lstm.app.cli import given_flags

    train = build_parser().subparsers["train"]
    assert given_flags(train, ["--out", "r", "--resume", "--lr=0.1", "--seed", "0"]) == {
        "out", "resume", "lr", "seed"}  # --seed 0 is the default, yet given
    assert given_flags(train, []) == set()


def test_threads_set_torchs_threads_are_recorded_and_may_change_on_resume(tmp_path, capsys, monkeypatch):
    from scratch_lstm.app.limits import cpu_count

    seen, real = [], train_module.train_step

    def spy(*args):
        seen.append(torch.get_num_threads())
        return real(*args)

    monkeypatch.setattr(train_module, "train_step", spy)
    before, other = torch.get_num_threads(), min(2, cpu_count())
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--schedule", "constant", "--epochs", "1", "--threads", "1",
                 "--out", str(out)]) == 0
    assert set(seen) == {1} and torch.get_num_threads() == before  # restored afterwards
    assert json.loads((out / "config.json").read_text())["threads"] == 1
    seen.clear()
    assert main(["train", "--out", str(out), "--epochs", "2", "--threads", str(other), "--resume"]) == 0
    assert set(seen) == {other} and json.loads((out / "config.json").read_text())["threads"] == other
    assert main(["eval", "--checkpoint", str(out / "last.pt"), "--threads", "1"]) == 0
    assert torch.get_num_threads() == before
    from scratch_lstm.app import bench

    monkeypatch.setitem(bench.CONFIGS, "lecture", bench.BenchConfig("lecture", 2, 3, 28, 8, 1))
    capsys.readouterr()
    assert main(["bench", "--config", "lecture", "--impl", "fused", "--repeats", "1", "--warmup", "0",
                 "--threads", "1"]) == 0
    assert "CPU, 1 thread;" in capsys.readouterr().out and torch.get_num_threads() == before


def test_every_command_that_computes_says_how_many_threads_and_why(tmp_path, capsys, monkeypatch):
    """One line near the start, before the computing: the count, and --threads, the run's
    setting, OMP_NUM_THREADS or torch's default."""
    from scratch_lstm.app import bench
    from scratch_lstm.app.config import threads_line

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    default = f"CPU threads: {torch.get_num_threads()} (torch's default, one per core)"  # not the command's process
    given = "CPU threads: 1 (--threads 1)"
    monkeypatch.setitem(bench.CONFIGS, "lecture", bench.BenchConfig("lecture", 2, 3, 28, 8, 1))
    out, ckpt = tmp_path / "run", str(tmp_path / "run" / "best.pt")
    commands = [  # argv, the line it must come before
        (["train", *MICRO, "--schedule", "constant", "--epochs", "1", "--out", str(out)], "run folder:"),
        (["eval", "--checkpoint", ckpt], "test accuracy:"),
        (["bench", "--config", "lecture", "--impl", "fused", "--repeats", "1", "--warmup", "0"], "config "),
        (["gates", "--checkpoint", ckpt, "--out", str(tmp_path / "g")], "mnist-sample test image 0"),
        (["gradient-flow", "--checkpoint", ckpt, "--out", str(tmp_path / "f")], "gradient through time"),
        (["explore", "--checkpoint", ckpt, "--digits", "0", "--out", str(tmp_path / "e.html")], "wrote "),
        (["inspect", "--hidden-size", "4", "--seq-len", "2"], "How the LSTM works"),
    ]
    for threads, expected in (([], default), (["--threads", "1"], given)):
        for argv, before in commands:
            if argv[0] == "train" and out.exists():
                shutil.rmtree(out)
            assert main([*argv, *threads]) == 0, argv
            lines = capsys.readouterr().out.splitlines()
            assert expected in lines, argv
            assert lines.index(expected) < next(k for k, line in enumerate(lines) if line.startswith(before))
            assert sum(line.startswith("CPU threads:") for line in lines) == 1
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 0  # the run's --threads 1
    assert "CPU threads: 1 (--threads 1, the run's setting)" in capsys.readouterr().out.splitlines()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_line(None) == f"CPU threads: {torch.get_num_threads()} (OMP_NUM_THREADS=1)"


def test_gates_and_gradient_flow_read_the_first_sample_runs_checkpoint(tmp_path, capsys, monkeypatch):
    """`scratch-lstm train` with no flags writes runs/exp1/best.pt, trained on the embedded sample;
    gates and gradient-flow take it (and their help says so), reading the sample's test images."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", *MICRO, "--epochs", "1"]) == 0  # sizes cut down; the folder and data as without flags
    assert json.loads(Path("runs/exp1/summary.json").read_text())["dataset"] == "mnist-sample"
    assert main(["gates", "--checkpoint", "runs/exp1/best.pt", "--out", "g"]) == 0
    assert main(["gradient-flow", "--checkpoint", "runs/exp1/best.pt", "--out", "f"]) == 0
    text = capsys.readouterr().out
    assert "mnist-sample test image 0" in text and "mnist-sample test images 0..31" in text
    assert sorted(p.name for p in Path("g").iterdir()) == [
        "change.png", "gates.json", "gates_fresh.png", "gates_trained.png", "trajectory.png"]
    assert sorted(p.name for p in Path("f").iterdir()) == ["gradient_flow.json", "gradient_flow.png"]
    for command in ("gates", "gradient-flow"):
        (flag,) = [a for a in build_parser().subparsers[command]._actions if a.dest == "checkpoint"]
        assert "e.g. runs/exp1/best.pt of a first `scratch-lstm train`" in flag.help, command


def test_gradient_flow_without_out_writes_a_new_numbered_folder(tmp_path, capsys, monkeypatch):
    """As `train` without --out makes runs/expN, gradient-flow makes runs/gradient-flowN: the
    README's `scratch-lstm gradient-flow --data-dir data` runs as written, and never replaces."""
    monkeypatch.chdir(tmp_path)
    Path("runs/gradient-flow7").mkdir(parents=True)  # someone's earlier output: left alone
    small = ["gradient-flow", "--hidden-size", "4", "--batch-size", "2", "--sequence", "rows",
             "--init", "default", "--threads", "1"]
    assert main(small) == 0
    assert "wrote runs/gradient-flow8/gradient_flow.png" in capsys.readouterr().out
    assert main(small) == 0
    assert sorted(p.name for p in Path("runs").iterdir()) == ["gradient-flow7", "gradient-flow8", "gradient-flow9"]
    assert list(Path("runs/gradient-flow7").iterdir()) == []


def fake_mnist_run(tmp_path: Path) -> Path:
    """A micro run trained with `--dataset mnist --data-dir data` on a tiny MNIST-shaped split
    (files that are not MNIST's train all the same, with a note), in ``tmp_path``; its best.pt."""
    from test_data import write_split

    write_split(tmp_path / "data" / "MNIST" / "raw", n_train=40, n_test=12)
    flags = [f for f in MICRO if f not in ("--dataset", "mnist-sample")]
    assert main(["train", *flags, "--dataset", "mnist", "--data-dir", "data", "--out", "runs/mnist"]) == 0
    return Path("runs/mnist/best.pt")


def test_explore_reads_the_data_folder_its_run_recorded(tmp_path, capsys, monkeypatch):
    """`explore --checkpoint runs/mnist/best.pt --out ...` without --data-dir reads the test split
    from the folder the run's config.json names, and says so; from Python too."""
    from scratch_lstm import explore

    monkeypatch.chdir(tmp_path)
    ckpt = fake_mnist_run(tmp_path)
    assert json.loads(Path("runs/mnist/config.json").read_text())["data_dir"] == "data"
    capsys.readouterr()
    assert main(["explore", "--checkpoint", str(ckpt), "--out", "runs/page.html", "--threads", "1"]) == 0
    said = capsys.readouterr().out
    assert "data: the test split from data, the folder best.pt's run read" in said
    assert "mnist test image" in Path("runs/page.html").read_text()
    page = explore(str(ckpt), digits=[3], threads=1)
    assert page.digits[0][1] == "mnist test image 3"


def test_explore_in_python_names_its_arguments_not_the_flags(tmp_path, capsys, monkeypatch):
    """Without the run's data folder, scratch_lstm.explore() says data_dir=, the command --data-dir."""
    from scratch_lstm import explore
    from scratch_lstm.app.errors import DataError

    monkeypatch.chdir(tmp_path)
    ckpt = fake_mnist_run(tmp_path)
    shutil.rmtree("data")
    with pytest.raises(DataError) as e:
        explore(str(ckpt), threads=1)
    assert "pass data_dir=DIR" in str(e.value) and "download=True" in str(e.value)
    assert "--data-dir" not in str(e.value) and "--download" not in str(e.value)
    capsys.readouterr()
    assert main(["explore", "--checkpoint", str(ckpt), "--out", "runs/page.html", "--threads", "1"]) == 2
    assert "pass --data-dir DIR" in capsys.readouterr().err


def test_the_wait_policy_is_passive_only_where_others_keep_a_cpu_busy():
    from scratch_lstm._startup import free_cpus, wait_policy

    assert [free_cpus(b, 2) for b in (0.5, 0.9, 1.0, 1.4, 1.6, 2.0)] == [2, 1, 1, 1, 1, 1]  # at least one
    assert [free_cpus(b, 8) for b in (0.5, 1.0, 2.6, 7.9)] == [8, 7, 5, 1]

    assert wait_policy(0.0, {}, 2) is None and wait_policy(0.3, {}, 2) is None  # idle: OpenMP's default
    assert wait_policy(0.5, {}, 2) == wait_policy(1.9, {}, 2) == "PASSIVE"
    assert wait_policy(None, {}, 2) is None  # nothing to read: as torch does
    assert wait_policy(1.9, {"OMP_WAIT_POLICY": "ACTIVE"}, 2) is None  # the user's own is kept
    assert wait_policy(1.9, {"GOMP_SPINCOUNT": "1000"}, 2) is None
    assert wait_policy(0.9, {}, 1) is None  # one CPU: no thread waits for another


@pytest.mark.skipif(cpu_count() < 2, reason="needs two CPUs: one kept busy, one for the command")
def test_the_command_started_beside_a_busy_cpu_makes_its_threads_sleep(tmp_path):
    """With another program spinning on a CPU, the command (not a program that imports the
    package) sets OMP_WAIT_POLICY=PASSIVE before torch loads, and, without --threads, one thread
    per CPU left free; its threads line says so."""
    from scratch_lstm._startup import free_cpus

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        done = run_cli(["inspect", "--hidden-size", "4", "--seq-len", "2", "--threads", "1"], tmp_path)
        assert done.returncode == 0, done.stderr
        line = done.stdout.splitlines()[0]
        assert line.startswith("CPU threads: 1 (--threads 1; other programs kept ")
        assert line.endswith(" CPUs busy as it started, so waiting threads sleep (OMP_WAIT_POLICY=PASSIVE))")
        # without --threads: one thread per CPU the spinner (and anything else) left free
        env = {**{k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")},
               "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "scratch_lstm", "inspect", "--hidden-size", "4"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env=env)
        line = done.stdout.splitlines()[0]
        busy = float(re.search(r"other programs kept ([\d.]+) CPUs busy", line).group(1))
        free = free_cpus(busy, os.cpu_count())
        if free < os.cpu_count():
            assert line.startswith(f"CPU threads: {free} (one per CPU that other programs left free; "), line
        env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's own choice
        done = subprocess.run([sys.executable, "-m", "scratch_lstm", "inspect", "--hidden-size", "4"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env=env)
        assert done.stdout.splitlines()[0].endswith("(torch's default, one per core)")
        code = "import os, scratch_lstm; print(os.environ.get('OMP_WAIT_POLICY'))"
        imported = subprocess.run([sys.executable, "-c", code],
                                  cwd=tmp_path, capture_output=True, text=True, timeout=300,
                                  env={k: v for k, v in env.items() if k != "OMP_WAIT_POLICY"})
        assert imported.stdout.strip() == "None"  # a program that imports the package is left alone
    finally:
        spinner.kill()
        spinner.wait()


def test_version_is_answered_and_before_torch_loads(tmp_path, capsys):
    from importlib.metadata import PackageNotFoundError, version

    import scratch_lstm

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"scratch-lstm {scratch_lstm.__version__}\n"
    try:
        installed = version("scratch-lstm")
    except PackageNotFoundError:
        pytest.skip("the package is not installed: its parser answers --version, after torch loads")
    assert installed == scratch_lstm.__version__
    fake = tmp_path / "no-torch" / "torch"  # a torch that cannot be imported: --version must not need it
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, "-m", "scratch_lstm", "--version"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"scratch-lstm {installed}\n", "")


def test_explores_digits_are_named_test_set_indices_not_labels(capsys):
    with pytest.raises(SystemExit):
        main(["explore", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "by their index in the test split, not by label: --digits 0 1 2 embeds test images 0, 1 and 2" in text


def written_help() -> tuple[str, int, dict]:
    from scratch_lstm import _startup

    return _startup.read_help(str(Path(_startup.__file__).parent / _startup.HELP_FILE))


def test_the_help_answered_before_torch_loads_is_the_parsers():
    """scratch_lstm/app/help.txt holds what the parser prints, and argv.json its flags (from which
    the start-up answers argument errors): after a flag changes, run `python scripts/make_help.py`."""
    from scratch_lstm import _startup
    from scratch_lstm.app.cli import argv_description, help_texts

    python, columns, texts = written_help()
    if python != "{}.{}".format(*sys.version_info[:2]):
        pytest.skip(f"written with Python {python}: this Python's users get the parser's answer")
    assert columns == _startup.HELP_COLUMNS
    stale = [name or "scratch-lstm" for name, text in help_texts(columns).items() if texts.get(name) != text]
    assert stale == [], "the help texts changed: run `python scripts/make_help.py`"
    written = json.loads((Path(_startup.__file__).parent / _startup.ARGV_FILE).read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(argv_description())), \
        "the flags changed: run `python scripts/make_help.py`"


def test_help_is_answered_without_importing_torch(tmp_path):
    python, columns, texts = written_help()
    if python != "{}.{}".format(*sys.version_info[:2]):
        pytest.skip(f"written with Python {python}")
    fake = tmp_path / "no-torch" / "torch"  # a torch that cannot be imported
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{ROOT}", "COLUMNS": str(columns + 20)}
    for args, key in ((["--help"], ""), (["train", "--help"], "train"), (["gradient-flow", "-h"], "gradient-flow")):
        done = subprocess.run([sys.executable, "-m", "scratch_lstm", *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path, env=env)
        assert (done.returncode, done.stderr) == (0, ""), args
        assert done.stdout == texts[key]
    narrow = subprocess.run([sys.executable, "-m", "scratch_lstm", "--help"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path, env={**env, "COLUMNS": str(columns - 20)})
    assert "torch was imported" in narrow.stderr  # a narrow terminal: the parser answers, after torch
