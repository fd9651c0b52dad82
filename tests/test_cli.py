"""The scratch-lstm command line end to end, on the embedded sample."""

import json
import subprocess
import sys

import pytest
import torch

from scratch_lstm import train as train_module
from scratch_lstm.cli import main

SMALL = ["--dataset", "mnist-sample", "--log-every", "0"]
TINY = SMALL + ["--train-subset", "600", "--hidden-size", "16", "--num-layers", "2",
                "--dropout", "0.3", "--batch-size", "50"]


def read_metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_on_the_sample_learns_and_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    # Measured: this setting reaches ~89% test accuracy on the sample in 3 epochs (chance: 10%).
    assert main(["train", *SMALL, "--hidden-size", "48", "--num-layers", "1", "--epochs", "3",
                 "--batch-size", "50", "--lr", "3e-3", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("data: mnist-sample from embedded sample")
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


def test_auto_announces_the_sample_fallback_first(tmp_path, capsys):
    assert main(["train", "--data-dir", str(tmp_path / "nothing"), "--train-subset", "100",
                 "--hidden-size", "8", "--num-layers", "1", "--epochs", "1", "--log-every", "0",
                 "--out", str(tmp_path / "run")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "full MNIST not found" in first and "embedded sample" in first
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["dataset"] == "mnist-sample"


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *TINY, "--epochs", "2", "--out", str(straight)]) == 0
    assert main(["train", *TINY, "--epochs", "1", "--out", str(resumed)]) == 0
    assert main(["train", *TINY, "--epochs", "2", "--out", str(resumed), "--resume"]) == 0
    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(resumed / "last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    strip = lambda ms: [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in ms]
    assert strip(read_metrics(straight)) == strip(read_metrics(resumed))


def test_existing_run_is_not_overwritten_and_resume_checks_flags(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(["train", *TINY, "--epochs", "2", "--lr", "0.1", "--out", str(out), "--resume"]) == 2
    assert "other settings (lr)" in capsys.readouterr().err


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
    assert "loss became nan at epoch 2" in err and "last good epoch (1)" in err
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    assert [m["epoch"] for m in read_metrics(out)] == [1]


def test_missing_data_offline_is_a_message_not_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "scratch_lstm", "train", "--dataset", "mnist", "--data-dir",
         str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: mnist not found")
    for stem in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert stem in proc.stderr


@pytest.mark.parametrize("argv, message", [
    (["eval", "--checkpoint", "missing.pt", "--dataset", "mnist-sample"], "does not exist"),
    (["train", "--device", "cuda" if not torch.cuda.is_available() else "mps", "--dataset",
      "mnist-sample"], "is not available here"),
])
def test_user_mistakes_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_flag_values_are_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "0"])
    assert e.value.code == 2 and "must be a positive integer" in capsys.readouterr().err


def test_inspect_prints_the_seed_walk_through(capsys):
    assert main(["inspect"]) == 0
    text = capsys.readouterr().out
    assert "x:[2x20x28] => rnn_out:[2x20x256]" in text
    assert "hn:[2x2x256] cn:[2x2x256]" in text
    assert "Total number of parameters:[821,770]." in text


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from scratch_lstm.train import atomic_write_bytes, save_json

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
    from scratch_lstm.train import load_checkpoint, model_from_checkpoint, resolve_device

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
