"""`scratch-lstm eval --clamp`: lesions of a trained checkpoint end to end, on the embedded sample."""

import pytest
import torch

from scratch_lstm import LSTM, GateClamp
from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint
from scratch_lstm.app.cli import _parse, main
from scratch_lstm.app.data import Batches, load_dataset
from scratch_lstm.app.evaluate import evaluate, evaluate_checkpoint

MICRO = ["--dataset", "mnist-sample", "--log-every", "0", "--train-subset", "200", "--hidden-size", "8",
         "--num-layers", "2", "--batch-size", "50", "--threads", "1"]


def one_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines[-1:]) == 1 and lines[-1].startswith(("error:", "scratch-lstm eval: error:")), err
    return lines[-1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert main(["train", *MICRO, "--epochs", "1", "--out", str(run)]) == 0
    return str(run / "last.pt")


def test_eval_clamp_prints_the_lesioned_accuracy_beside_the_unclamped(checkpoint, capsys):
    capsys.readouterr()
    assert main(["eval", "--checkpoint", checkpoint, "--clamp", "f=1", "--clamp", "h=0@1:0-3",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    unclamped = next(line for line in out.splitlines() if line.startswith("test accuracy: "))
    lesion = next(line for line in out.splitlines() if line.startswith("test accuracy with "))
    assert "lesion --clamp f=1 --clamp h=0@1:0-3: evaluating through the teaching path" in out
    assert lesion.startswith("test accuracy with --clamp f=1 --clamp h=0@1:0-3: ")
    assert f"(unclamped {unclamped.split()[2]}," in lesion and " points), loss " in lesion


def test_the_clamped_evaluation_is_the_variant_on_the_same_weights(checkpoint):
    """From Python: --clamp f=1 scores what the NFG cell scores with the checkpoint's weights."""
    result = evaluate_checkpoint(checkpoint, clamps=[GateClamp("f", 1.0)], threads=1)
    assert result["clamped"]["clamps"] == ["f=1"]
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    nfg = model_from_checkpoint(ckpt)
    nfg.rnn = LSTM(28, 8, 2, batch_first=True, variant="nfg")
    nfg.load_state_dict(model.state_dict(), strict=True)
    ds = load_dataset("mnist-sample")
    batches = Batches(ds.test_images, ds.test_labels, 1000)
    assert result["clamped"]["acc"] == evaluate(nfg, batches)["acc"]
    assert result["clamped"]["confusion"] == evaluate(nfg, batches)["confusion"]
    assert result["acc"] == evaluate(model, batches)["acc"]  # the unclamped one, unchanged
    assert torch.equal(model(ds.test_images[:5].float(), clamps=[GateClamp("f", 1)]),
                       nfg(ds.test_images[:5].float()))


@pytest.mark.parametrize("value, message", [
    ("f=2", r"argument --clamp: f is a sigmoid gate: its clamp value must be in [0, 1], got 2.0 (in 'f=2')"),
    ("x=1", "argument --clamp: the gate must be one of i, f, g, o, h"),
    ("f", "argument --clamp: expected GATE=VALUE[@LAYER][:UNITS]"),
    ("f=1@a", "argument --clamp: the layer after @ must be an integer >= 0"),
    ("f=1:3-", "argument --clamp: the units after : must be indices or ranges a-b"),
])
def test_bad_clamp_texts_are_one_usage_line(value, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["eval", "--checkpoint", str(tmp_path / "none.pt"), "--clamp", value])
    assert e.value.code == 2
    assert message in one_error(capsys.readouterr().err)


@pytest.mark.parametrize("value, message", [
    ("f=1@2", "error: --clamp f=1@2: layer 2 does not exist; the LSTM has 2 layer(s), 0 to 1"),
    ("h=0:3,8", "error: --clamp h=0:3,8: unit 8 does not exist; the LSTM has 8 units per layer, 0 to 7"),
])
def test_a_clamp_the_checkpoint_lacks_is_one_error_line_before_any_evaluation(checkpoint, value, message,
                                                                               capsys):
    capsys.readouterr()
    assert main(["eval", "--checkpoint", checkpoint, "--clamp", value, "--threads", "1"]) == 2
    captured = capsys.readouterr()
    assert one_error(captured.err).startswith(message)
    assert "test accuracy" not in captured.out


def test_clamp_counts_as_a_given_flag():
    args = _parse(["eval", "--checkpoint", "x.pt", "--clamp", "f=1", "--clamp", "o=1@0"])
    assert args.clamp == [GateClamp("f", 1.0), GateClamp("o", 1.0, 0)] and "clamp" in args.given
    args = _parse(["eval", "--checkpoint", "x.pt"])
    assert args.clamp is None and "clamp" not in args.given
