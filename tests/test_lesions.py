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


def test_a_clamp_in_time_holds_its_steps_only():
    """f=0 at step 3 of layer 0: the cell forgets at step 3, nowhere else; before it, nothing changes."""
    from scratch_lstm import trace_gates

    torch.manual_seed(0)
    lstm = LSTM(3, 5, 2)
    x = torch.randn(7, 2, 3)
    free = trace_gates(lstm, x)
    held = trace_gates(lstm, x, clamps=[GateClamp.parse("f=0@0:1-2/3")])
    assert torch.equal(held[0].f[3, :, 1:3], torch.zeros(2, 2))  # (T, B, H): the window, the units
    assert torch.equal(held[0].c[3, :, 1:3], held[0].i[3, :, 1:3] * held[0].g[3, :, 1:3])  # c_3 = i g: forgot
    assert torch.equal(held[0].f[:3], free[0].f[:3]) and torch.equal(held[0].h[:3], free[0].h[:3])
    assert (held[0].f[4:, :, 1:3] > 0).all() and (held[0].f[:, :, 0] > 0).all()  # computed again after; unit 0 free
    assert not torch.equal(held[1].h[3:], free[1].h[3:])  # and the layer above sees it
    window = trace_gates(lstm, x, clamps=[GateClamp("o", 1.0, steps=(2, 4))])
    assert (window[1].o[2:5] == 1).all() and (window[1].o[:2] != 1).all() and (window[1].o[5:] != 1).all()


@pytest.mark.parametrize("text, clamp", [
    ("f=0/15", GateClamp("f", 0.0, steps=(15, 15))),
    ("f=0@1:5/15-17", GateClamp("f", 0.0, 1, (5,), (15, 17))),
    ("o=0.5:0-2/0-27", GateClamp("o", 0.5, None, (0, 1, 2), (0, 27))),
])
def test_the_time_window_syntax(text, clamp):
    assert GateClamp.parse(text) == clamp and str(clamp) == text
    assert GateClamp.parse(str(clamp)) == clamp


@pytest.mark.parametrize("text, error, match", [
    ("f=1@²", ValueError, "the layer after @ must be an integer >= 0"),  # not int()'s "invalid literal"
    ("f=1:²", ValueError, "the units after : must be indices"),
    ("f=١", ValueError, "the value after f= must be a number"),
    ("f=nan", ValueError, "the value after f= must be a number"),
    ("f=1/3,4", ValueError, "the steps after / must be one step t or one window a-b"),
    ("f=1/9-3", ValueError, "the step range 9-3 runs backwards; write 3-9"),
    ("f=1/", ValueError, "the steps after / must be"),
    (None, TypeError, "a clamp's text must be a str .*, got NoneType"),
    (1, TypeError, "got int"),
])
def test_bad_clamp_texts_say_what_was_expected(text, error, match):
    with pytest.raises(error, match=match):
        GateClamp.parse(text)


def test_a_huge_unit_range_is_refused_before_it_is_spelled_out():
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match="unit 9999999 does not exist: no LSTM here has more than 1,048,576 units"):
        GateClamp.parse("f=1:0-9999999")
    assert time.perf_counter() - start < 0.5  # no ten-million-element list first
    with pytest.raises(ValueError, match="step 99999999 does not exist"):
        GateClamp.parse("f=1/0-99999999")


@pytest.mark.parametrize("args, error, match", [
    (("f", 1, None, None, (3, 2)), ValueError, r"steps must be \(first, last\), steps >= 0 with first <= last"),
    (("f", 1, None, None, (-1, 2)), ValueError, "steps must be"),
    (("f", 1, None, None, (1,)), ValueError, "steps must be"),
    (("f", 1, None, None, "1-2"), TypeError, "got str"),
])
def test_bad_windows_say_what_was_expected(args, error, match):
    with pytest.raises(error, match=match):
        GateClamp(*args)


def test_eval_takes_a_clamp_in_time(checkpoint, capsys):
    capsys.readouterr()
    assert main(["eval", "--checkpoint", checkpoint, "--clamp", "f=0@0/5-9", "--threads", "1"]) == 0
    assert "test accuracy with --clamp f=0@0/5-9: " in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["eval", "--checkpoint", checkpoint, "--clamp", "f=1:0-9999999", "--threads", "1"])
    assert e.value.code == 2
    assert "unit 9999999 does not exist" in one_error(capsys.readouterr().err)
