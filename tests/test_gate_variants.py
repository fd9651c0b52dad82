"""benchmarks/gate_variants.py: every cell with the same seeds, batches and budget; its
flags are checked before anything is written; Ctrl-C and mistakes are one line."""

import json
import sys
from pathlib import Path

import pytest
import torch

from scratch_lstm import LSTM
from scratch_lstm.app.limits import cpu_count

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gate_variants  # noqa: E402

TINY = ["--adding-steps", "2", "--mnist-steps", "2", "--eval-every", "1", "--test-size", "20", "--hidden-size",
        "4", "--batch-size", "8", "--threads", "1"]


def one_error(err: str) -> str:
    """The last line of stderr: argparse's usage comes before it, nothing after it."""
    last = err.strip().splitlines()[-1]
    assert "error:" in last, err
    return last


def test_the_script_writes_table_json_and_figure(tmp_path, capsys):
    out = tmp_path / "gv"
    assert gate_variants.main(["--out", str(out), "--tasks", "adding-100", "rows-blank", "--cells", "rnn", "gru",
                               "nfg", "vanilla", "--seeds", "2", "--jobs", "1", *TINY, "--blank-rows", "3"]) == 0
    text = capsys.readouterr().out
    assert "note: the MNIST tasks read the embedded sample" in text
    assert "estimate: less than a minute with 1 process(es)" in text
    results = json.loads((out / "gate_variants.json").read_text())
    assert results["seeds"] == [0, 1] and results["cells"] == ["rnn", "gru", "vanilla", "nfg"]  # the table's order
    for key, T in (("adding-100", 100), ("rows-blank", 31)):
        assert results["tasks"][key]["T"] == T
        for cell in results["cells"]:
            for seed in ("0", "1"):
                history = results["runs"][key][cell][seed]["history"]
                assert [h["step"] for h in history] == [0, 1, 2]
    base = results["tasks"]["adding-100"]["baseline"]  # answering 0.5 always, on these 20 test sequences
    _, target = gate_variants.adding_batch(20, 100, torch.Generator().manual_seed(10**6))
    assert base["loss"] == pytest.approx(((target - 0.5) ** 2).mean().item())
    assert base["score"] == ((target - 0.5).abs() < 0.04).double().mean().item()
    table = (out / "gate_variants.md").read_text()
    assert "| cell | solved: median [lowest, highest] | test MSE (median) | parameters (used) |" in table
    assert "| nfg | " in table and "**MNIST rows + 3 blank rows" in table
    assert (out / "gate_variants.png").read_bytes()[:4] == b"\x89PNG"


def test_worker_processes_give_the_same_runs(tmp_path, capsys):
    """Each run is seeded on its own: one process or two, the same numbers."""
    args = ["--tasks", "adding-100", "--cells", "rnn", "cifg", "--seeds", "1", *TINY]
    assert gate_variants.main(["--out", str(tmp_path / "one"), "--jobs", "1", *args]) == 0
    jobs = str(min(2, cpu_count()))  # two where the machine has two CPUs
    assert gate_variants.main(["--out", str(tmp_path / "two"), "--jobs", jobs, *args]) == 0
    one, two = (json.loads((tmp_path / d / "gate_variants.json").read_text())["runs"] for d in ("one", "two"))
    for cell in ("rnn", "cifg"):
        assert one["adding-100"][cell]["0"]["history"] == two["adding-100"][cell]["0"]["history"]


def test_every_cell_of_a_seed_starts_from_the_same_head_and_lstm_weights():
    for init in ("default", "chrono"):
        models = {}
        for cell in gate_variants.CELLS:
            torch.manual_seed(3)
            models[cell] = gate_variants.Model(cell, 2, 6, 1)
            gate_variants.init_cell(models[cell].rnn, init, 50, torch.Generator().manual_seed(3))
        for cell, model in models.items():
            assert torch.equal(model.lin.weight, models["rnn"].lin.weight)
            if isinstance(model.rnn, LSTM):
                for name, p in models["vanilla"].rnn.named_parameters():
                    assert torch.equal(getattr(model.rnn, name), p), (cell, name)
        gru = models["gru"].rnn
        b_z = (gru.bias_ih_l0 + gru.bias_hh_l0)[6:12]
        if init == "chrono":  # the update gate's bias: log U(1, 49), the forget gates' draw
            lstm = models["vanilla"].rnn
            assert torch.allclose(b_z, (lstm.bias_ih_l0 + lstm.bias_hh_l0)[6:12])
            assert (b_z >= 0).all() and (b_z <= torch.log(torch.tensor(49.0))).all()


def test_the_estimate_is_the_cost_model_scaled_by_steps_timed_here(tmp_path, capsys, monkeypatch):
    budget = gate_variants.Budget(hidden_size=4, batch_size=8)
    task = gate_variants.Task("adding-100", budget, None, torch.device("cpu"))
    clock = iter([10.0, 10.0 + 4 * 0.048])  # the probe reads the clock twice: 4 steps of 48 ms
    monkeypatch.setattr(gate_variants, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: next(clock))}))
    expected = 0.048 / (gate_variants.SECONDS_PER_STEP_LSTM * 100)
    assert gate_variants.probe_speed(task, steps=4) == pytest.approx(expected)
    monkeypatch.undo()

    probed = []
    monkeypatch.setattr(gate_variants, "probe_speed", lambda task: probed.append(task.key) or 1e4)
    args = ["--tasks", "adding-200", "rows", "--cells", "rnn", "vanilla", "--seeds", "1", "--jobs", "1", *TINY]
    assert gate_variants.main(["--out", str(tmp_path / "gv"), *args]) == 0
    budget = gate_variants.Budget(adding_steps=2, mnist_steps=2, eval_every=1, test_size=20, hidden_size=4,
                                  batch_size=8, seeds=1)
    tasks = [gate_variants.Task(key, budget, None, torch.device("cpu")) for key in ("adding-200", "rows")]
    minutes = 1e4 * gate_variants.estimate_seconds(budget, tasks, ["rnn", "vanilla"], jobs=1) / 60
    assert probed == ["adding-200"]  # the first task, at the budget's sizes
    assert f"estimate: about {minutes:.0f} minutes with 1 process(es)" in capsys.readouterr().out


def test_the_default_budget_is_designed_for_40_minutes():
    budget = gate_variants.Budget()
    tasks = [gate_variants.Task(key, budget, None, torch.device("cpu")) for key in gate_variants.TASKS]
    minutes = gate_variants.estimate_seconds(budget, tasks, gate_variants.CELLS, jobs=2) / 60
    assert 20 < minutes <= 40 and budget.seeds >= 3


@pytest.mark.parametrize("flag, value, expected", [
    ("--seeds", "0", "must be a positive integer, got 0"),
    ("--adding-steps", "-5", "must be a positive integer, got -5"),
    ("--lr", "nan", "must be a finite number > 0, got nan"),
    ("--grad-clip", "-1", "must be a finite number >= 0, got -1"),
    ("--jobs", "0", "must be from 1 to"),
    ("--threads", "0", "must be from 1 to"),
    ("--blank-rows", "0", "must be a positive integer, got 0"),
    ("--tasks", "adding-50", "invalid choice: 'adding-50'"),
    ("--cells", "lstm", "invalid choice: 'lstm'"),
    ("--init", "orthogonal", "invalid choice: 'orthogonal'"),
    ("--data-dir", "", "must be a file or folder name"),
])
def test_bad_flags_are_refused_before_anything_is_written(tmp_path, capsys, flag, value, expected):
    with pytest.raises(SystemExit) as e:
        gate_variants.main(["--out", str(tmp_path / "gv"), flag, value])
    assert e.value.code == 2
    assert expected in one_error(capsys.readouterr().err)
    assert not (tmp_path / "gv").exists()


def test_missing_data_and_a_file_as_out_are_one_error_line(tmp_path, capsys):
    assert gate_variants.main(["--out", str(tmp_path / "gv"), "--data-dir", str(tmp_path / "nowhere"),
                               "--tasks", "rows", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err.splitlines()[0]
    assert not (tmp_path / "gv").exists()
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert gate_variants.main(["--out", str(afile), "--tasks", "adding-100", *TINY]) == 2
    assert one_error(capsys.readouterr().err) == f"error: --out {afile} is a file, not a folder; choose another --out"
    assert afile.read_text() == "mine"


def test_an_earlier_experiments_json_is_never_replaced(tmp_path, capsys):
    out = tmp_path / "gv"
    out.mkdir()
    (out / "gate_variants.json").write_text("{}\n")
    assert gate_variants.main(["--out", str(out), "--tasks", "adding-100", *TINY]) == 2
    assert "already holds gate_variants.json" in one_error(capsys.readouterr().err)
    assert (out / "gate_variants.json").read_text() == "{}\n"


def test_ctrl_c_is_one_line_and_keeps_the_runs_finished(tmp_path, capsys, monkeypatch):
    real, calls = gate_variants.train_one, []

    def interrupted_second(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(gate_variants, "train_one", interrupted_second)
    out = tmp_path / "gv"
    assert gate_variants.main(["--out", str(out), "--tasks", "adding-100", "--cells", "rnn", "gru", "--jobs", "1",
                               "--seeds", "1", *TINY]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: interrupted. {out / 'gate_variants.json'} was written (complete)"]
    runs = json.loads((out / "gate_variants.json").read_text())["runs"]["adding-100"]
    assert list(runs["rnn"]) == ["0"] and runs["gru"] == {}
    assert not (out / "gate_variants.md").exists()


def test_a_diverged_run_is_stopped_and_reported(tmp_path, capsys, monkeypatch):
    real = gate_variants.Task.loss

    def loss_infinite_in_training(self, out, y):  # evaluations run without grad: finite
        return real(self, out, y) * (float("inf") if torch.is_grad_enabled() else 1.0)

    monkeypatch.setattr(gate_variants.Task, "loss", loss_infinite_in_training)
    out = tmp_path / "gv"
    assert gate_variants.main(["--out", str(out), "--tasks", "adding-100", "--cells", "noaf", "--seeds", "1",
                               "--jobs", "1", *TINY]) == 0
    record = json.loads((out / "gate_variants.json").read_text())["runs"]["adding-100"]["noaf"]["0"]
    assert record["diverged"] == 1 and [h["step"] for h in record["history"]] == [0]
    assert "adding-100 noaf seed 0: the loss is inf at step 1; stopped" in capsys.readouterr().out
    assert "| noaf | " in (out / "gate_variants.md").read_text() and "1 of 1 diverged" in (
        out / "gate_variants.md").read_text()
