"""Epoch snapshots (snapshots.pt): what a run keeps of each epoch, how it is checked, and how a
resume goes on with it. The kills between its write and last.pt's are in test_faults.py."""

import shutil

import pytest
import torch

from scratch_lstm import LSTMClassifier
from scratch_lstm.app.cli import main
from scratch_lstm.app.errors import TrainingError
from scratch_lstm.app.snapshots import (
    FORMAT,
    SNAPSHOTS_FILE,
    load_snapshots,
    run_snapshots,
    snapshot,
    snapshots_file,
)

FLAGS = ["--dataset", "mnist-sample", "--log-every", "0", "--train-subset", "100", "--hidden-size", "8",
         "--num-layers", "2", "--batch-size", "50", "--schedule", "constant"]
CONFIG = {"input_size": 28, "hidden_size": 8, "num_classes": 10, "num_layers": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("snap") / "run"
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 0
    return out


def names_of(model) -> dict:
    return {k: v.shape for k, v in model.state_dict().items()}


def test_every_epoch_is_kept_in_float16_and_the_last_equals_last_pt(run):
    data = torch.load(run / SNAPSHOTS_FILE, weights_only=True)
    assert data["format"] == FORMAT and data["model_config"] == CONFIG
    assert sorted(data["epochs"]) == [1, 2]
    last = torch.load(run / "last.pt", weights_only=True)["model"]
    assert set(data["epochs"][2]) == set(last)
    for name, value in data["epochs"][2].items():
        assert value.dtype == torch.float16
        assert torch.equal(value, last[name].half())
    assert not torch.equal(data["epochs"][1]["lin.weight"], data["epochs"][2]["lin.weight"])  # it trained


def test_a_value_beyond_float16_keeps_its_tensor_in_float32():
    model = LSTMClassifier(28, 8, 10, num_layers=2)
    with torch.no_grad():
        model.lin.weight[0, 0] = 1e6  # float16 would make it inf
    kept = snapshot(model)
    assert kept["lin.weight"].dtype == torch.float32 and kept["lin.weight"][0, 0] == 1e6
    assert kept["lin.bias"].dtype == torch.float16


def test_a_resume_puts_last_pts_epoch_in_and_drops_epochs_after_it(run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    (out / "config.json").write_text((run / "config.json").read_text().replace(str(run), str(out)))
    one = torch.load(run / SNAPSHOTS_FILE, weights_only=True)["epochs"]
    # a snapshots.pt with an epoch after last.pt's (put there by hand: not this run's) and without
    # last.pt's own (as a kill between the two writes leaves it)
    ahead = {1: one[1], 3: one[2]}
    torch.save(snapshots_file(CONFIG, ahead), out / SNAPSHOTS_FILE)
    assert main(["train", *FLAGS, "--epochs", "3", "--out", str(out), "--resume"]) == 0
    kept = torch.load(out / SNAPSHOTS_FILE, weights_only=True)["epochs"]
    assert sorted(kept) == [1, 2, 3]
    assert torch.equal(kept[1]["lin.weight"], one[1]["lin.weight"])
    assert all(torch.equal(kept[2][k], one[2][k]) for k in one[2])  # last.pt's epoch, from last.pt
    last = torch.load(out / "last.pt", weights_only=True)["model"]
    assert torch.equal(kept[3]["lin.weight"], last["lin.weight"].half())  # epoch 3 trained, not the planted one


def test_a_damaged_snapshots_file_is_a_note_on_resume_and_the_run_goes_on(run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    (out / "config.json").write_text((run / "config.json").read_text().replace(str(run), str(out)))
    (out / SNAPSHOTS_FILE).write_bytes(b"not a zip file")
    capsys.readouterr()
    assert main(["train", *FLAGS, "--epochs", "3", "--out", str(out), "--resume"]) == 0
    said = capsys.readouterr()
    assert "Traceback" not in said.err
    err = said.out
    assert "note:" in err and SNAPSHOTS_FILE in err and "start again from epoch 2" in err
    assert sorted(torch.load(out / SNAPSHOTS_FILE, weights_only=True)["epochs"]) == [2, 3]


def good():
    model = LSTMClassifier(28, 8, 10, num_layers=2)
    return model, {1: snapshot(model), 2: snapshot(model)}


@pytest.mark.parametrize("change, said", [
    (lambda d: d.update(format="something else"), "not a snapshots file"),
    (lambda d: d.update(version=9), "version 9"),
    (lambda d: d.update(model_config={**CONFIG, "hidden_size": 16}), "another model"),
    (lambda d: d.update(epochs=[1, 2]), "not a dict"),
    (lambda d: d["epochs"].update({0: d["epochs"][1]}), "0 is not an epoch"),
    (lambda d: d["epochs"].update({"3": d["epochs"][1]}), "'3' is not an epoch"),
    (lambda d: d["epochs"][1].pop("lin.bias"), "exactly the model's parameters"),
    (lambda d: d["epochs"][1].update({"lin.bias": torch.full((10,), float("nan"), dtype=torch.float16)}),
     "lin.bias is not a finite"),
    (lambda d: d["epochs"][2].update({"lin.bias": torch.zeros(11, dtype=torch.float16)}), "of shape (10,)"),
    (lambda d: d["epochs"][2].update({"lin.bias": torch.zeros(10, dtype=torch.int64)}), "float16 or float32"),
])
def test_a_snapshots_file_that_fails_a_check_is_refused_saying_what(change, said, tmp_path):
    model, epochs = good()
    data = snapshots_file(CONFIG, epochs)
    change(data)
    torch.save(data, tmp_path / SNAPSHOTS_FILE)
    with pytest.raises(TrainingError, match=said.replace("(", r"\(").replace(")", r"\)")):
        load_snapshots(tmp_path / SNAPSHOTS_FILE, CONFIG, names_of(model))


def test_a_checkpoints_snapshots_are_those_up_to_its_epoch(run):
    ckpt = torch.load(run / "best.pt", weights_only=True)
    names = {k: v.shape for k, v in ckpt["model"].items()}
    assert sorted(run_snapshots(run / "best.pt", {**ckpt, "epoch": 1}, names)) == [1]
    assert sorted(run_snapshots(run / "best.pt", ckpt, names)) == list(range(1, ckpt["epoch"] + 1))
    assert run_snapshots(run.parent / "elsewhere" / "best.pt", ckpt, names) == {}  # none there


# ---- what the explorer's page makes of them ---------------------------------------------------------------------

@pytest.mark.parametrize("available, picked", [
    ([], []), ([1], [1]), ([1, 2, 3, 4], [1, 2, 3, 4]), (list(range(1, 10)), [1, 2, 4, 9]),
    ([1, 2, 3, 4, 8], [1, 2, 3, 8]), (list(range(1, 8)), [1, 2, 4, 7]), (list(range(1, 100)), [1, 5, 21, 99]),
])
def test_the_page_carries_at_most_four_epochs_the_early_ones_first(available, picked):
    from scratch_lstm.app.explorer.page import pick_epochs

    assert pick_epochs(available) == picked


def test_a_snapshots_8_bit_weights_lie_within_half_a_step_of_its_own():
    from scratch_lstm.app.explorer.page import quantized

    model = LSTMClassifier(28, 8, 10, num_layers=2)
    with torch.no_grad():
        model.rnn.weight_hh_l1[3].zero_()  # a row of zeros keeps its zeros
    state = snapshot(model)
    weights, q = quantized(state, {"model_config": CONFIG})
    for name, value in q.state_dict().items():
        w = state[name].float()
        if name.endswith("weight_ih_l0") or "weight" in name:
            step = w.abs().amax(dim=1, keepdim=True) / 127
            assert bool(((value - w).abs() <= step / 2 + 1e-7).all()), name
        else:
            assert torch.equal(value, w), name  # biases: float32 of the float16 values, exactly
    assert bool((q.rnn.weight_hh_l1[3] == 0).all())
    assert set(weights["layers"][0]["weight_ih"]) == {"int8", "scale"}


def test_explore_embeds_a_runs_snapshots_and_says_when_they_cannot_be_used(run, tmp_path):
    from scratch_lstm.app.explorer import explore
    from scratch_lstm.app.explorer.page import make_page

    page = explore(run / "last.pt", digits=[0, 1], threads=1)
    assert "epochs 1 between" in page.summary
    out = tmp_path / "run"
    shutil.copytree(run, out)
    (out / SNAPSHOTS_FILE).write_bytes(b"damaged")
    page = make_page(out / "last.pt", [0, 1], threads=1)
    assert "between" not in page.summary
    assert any("snapshots" in n and "no epoch slider" in n for n in page.notes)
