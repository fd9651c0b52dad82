"""Long memory: the gate initialisations, the trainer's --init, the gradient through time and the
experiment script."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import scratch_lstm
from scratch_lstm import INITS, LSTM, LSTMClassifier, forgetting_times, gradient_flow, init_gates, trace_gates
from scratch_lstm.app.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import long_memory  # noqa: E402

MICRO = ["--dataset", "mnist-sample", "--log-every", "0", "--train-subset", "100", "--hidden-size",
         "8", "--num-layers", "1", "--batch-size", "50", "--schedule", "constant"]


def forget_biases(lstm) -> torch.Tensor:
    """b_if + b_hf of every layer and direction, (K*D, H)."""
    rows = []
    for name, b_ih in lstm.named_parameters():
        if name.startswith("bias_ih"):
            H = b_ih.numel() // 4
            rows.append((b_ih + getattr(lstm, "bias_hh" + name[len("bias_ih"):]))[H : 2 * H])
    return torch.stack(rows).detach()


def error_lines(text):
    return [line for line in text.splitlines() if line.startswith("error:")]


# --- the initialisations ----------------------------------------------------------------------

def test_init_gates_sets_only_the_gate_biases():
    torch.manual_seed(0)
    drawn = LSTM(3, 6, 2)
    for init, kwargs in (("default", {}), ("forget-bias", {"forget_bias": 2.5}), ("forget-bias", {}),
                         ("chrono", {"t_max": 50})):
        lstm = LSTM(3, 6, 2)
        lstm.load_state_dict(drawn.state_dict())
        init_gates(lstm, init, generator=torch.Generator().manual_seed(0), **kwargs)
        b_f = forget_biases(lstm)
        if init == "default":
            assert torch.equal(b_f, forget_biases(drawn))
        elif init == "forget-bias":
            assert torch.equal(b_f, torch.full_like(b_f, kwargs.get("forget_bias", 1.0)))
        else:
            assert (b_f >= 0).all() and (b_f <= math.log(49)).all() and b_f.std() > 0.3
        for name, p in lstm.named_parameters():  # the weights are untouched
            if name.startswith("weight"):
                assert torch.equal(p, getattr(drawn, name)), (init, name)


def test_init_gates_refuses_bad_values():
    lstm = LSTM(3, 4)
    with pytest.raises(ValueError, match="init must be one of"):
        init_gates(lstm, "orthogonal")
    with pytest.raises(ValueError, match="finite"):
        init_gates(lstm, "forget-bias", forget_bias=float("nan"))
    with pytest.raises(ValueError, match="finite"):
        init_gates(lstm, "forget-bias", forget_bias=float("inf"))
    with pytest.raises(ValueError, match="t_max >= 3"):
        init_gates(lstm, "chrono", t_max=2)
    with pytest.raises(ValueError, match="needs t_max"):
        init_gates(lstm, "chrono")
    with pytest.raises(ValueError, match="forget_bias is used by init='forget-bias' only"):
        init_gates(lstm, "chrono", t_max=10, forget_bias=1.0)
    with pytest.raises(ValueError, match="t_max is used by init='chrono' only"):
        init_gates(lstm, "default", t_max=10)
    assert set(INITS) == {"default", "forget-bias", "chrono"}


def test_forgetting_times():
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 64)
    times = forgetting_times(lstm)
    assert times.shape == (1, 64)
    bound = 2 / math.sqrt(64)  # b_f = b_if + b_hf, each from U(-1/sqrt(H), 1/sqrt(H))
    assert (times >= 1 + math.exp(-bound)).all() and (times <= 1 + math.exp(bound)).all()  # about 2
    init_gates(lstm, "forget-bias")
    torch.testing.assert_close(times.new_tensor(1 + math.e).expand(1, 64), forgetting_times(lstm))
    init_gates(lstm, "chrono", t_max=784, generator=torch.Generator().manual_seed(0))
    times = forgetting_times(lstm)
    assert times.min() >= 2 - 1e-9 and times.max() <= 784 + 1e-9 and times.max() > 400


# --- the trainer ------------------------------------------------------------------------------

@pytest.mark.parametrize("init, flags, expected", [
    ("default", [], {"init": "default", "forget_bias": None, "chrono_t_max": None}),
    ("forget-bias", [], {"init": "forget-bias", "forget_bias": 1.0, "chrono_t_max": None}),
    ("forget-bias", ["--forget-bias", "2"], {"init": "forget-bias", "forget_bias": 2.0}),
    ("chrono", ["--sequence", "pixels"], {"init": "chrono", "chrono_t_max": 784}),
    ("chrono", ["--chrono-t-max", "10"], {"init": "chrono", "chrono_t_max": 10}),
])
def test_train_records_the_init(init, flags, expected, tmp_path, capsys):
    out = tmp_path / "run"
    if "--sequence" in flags:  # pixel-level training is slow: two sequences
        flags = flags + ["--train-subset", "2", "--batch-size", "2"]
    assert main(["train", *MICRO, "--epochs", "1", "--init", init, *flags, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    ckpt = torch.load(out / "last.pt", weights_only=True)
    for key, value in expected.items():
        assert config[key] == value and ckpt["config"][key] == value, key
    assert f"init={init}" in printed


@pytest.mark.parametrize("backend", ["scratch", "fused", "torch"])
@pytest.mark.parametrize("init", list(INITS))
def test_every_backend_starts_from_the_same_weights(backend, init, tmp_path):
    from scratch_lstm.app.config import TrainConfig
    from scratch_lstm.app.train import prepare

    def start(backend):
        cfg = TrainConfig(dataset="mnist-sample", backend=backend, hidden_size=8, num_layers=2,
                          init=init, seed=3, out=str(tmp_path / backend), sequence="rows")
        return prepare(cfg, log=lambda _: None).model.state_dict()

    ours, reference = start(backend), start("scratch")
    assert ours.keys() == reference.keys()
    for name in ours:
        assert torch.equal(ours[name], reference[name]), name
    b_f = torch.stack([(ours[f"rnn.bias_ih_l{k}"] + ours[f"rnn.bias_hh_l{k}"])[8:16] for k in (0, 1)])
    if init == "forget-bias":
        assert torch.equal(b_f, torch.ones_like(b_f))
    elif init == "chrono":
        assert (b_f >= 0).all() and (b_f <= math.log(27)).all()
    else:
        assert b_f.abs().max() <= 2 / math.sqrt(8)


def test_a_resume_with_another_init_is_refused_naming_both(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "1", "--init", "chrono", "--out", str(out)]) == 0
    capsys.readouterr()
    for flags, named in ((["--init", "default"], "--init chrono (now default)"),
                         (["--init", "forget-bias"], "--init chrono (now forget-bias)"),
                         (["--init", "chrono", "--chrono-t-max", "10"], "--chrono-t-max 28 (now 10)")):
        assert main(["train", *MICRO, "--epochs", "2", *flags, "--out", str(out), "--resume"]) == 2
        err = capsys.readouterr().err
        assert error_lines(err) == [err.strip()] and named in err, err
    assert main(["train", *MICRO, "--epochs", "2", "--init", "chrono", "--out", str(out), "--resume"]) == 0


def test_a_checkpoint_from_before_init_resumes_as_default(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "1", "--out", str(out)]) == 0
    ckpt = torch.load(out / "last.pt", weights_only=True)
    for key in ("init", "forget_bias", "chrono_t_max"):
        del ckpt["config"][key]
    ckpt["version"] = 2  # as the version before --init wrote it: no checksum
    del ckpt["checksum"]
    torch.save(ckpt, out / "last.pt")
    capsys.readouterr()
    assert main(["train", *MICRO, "--epochs", "2", "--init", "forget-bias", "--out", str(out),
                 "--resume"]) == 2
    assert "--init default (now forget-bias)" in capsys.readouterr().err
    assert main(["train", *MICRO, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert torch.load(out / "last.pt", weights_only=True)["config"]["init"] == "default"


@pytest.mark.parametrize("flags, message", [
    (["--init", "chrono", "--chrono-t-max", "2"], "--chrono-t-max: must be an integer from 3 to 2**53"),
    (["--init", "chrono", "--chrono-t-max", "0"], "--chrono-t-max: must be an integer from 3 to 2**53"),
    (["--init", "forget-bias", "--forget-bias", "nan"], "--forget-bias: must be a finite number float32 can hold"),
    (["--init", "forget-bias", "--forget-bias", "inf"], "--forget-bias: must be a finite number float32 can hold"),
    (["--init", "uniform"], "invalid choice: 'uniform'"),
])
def test_bad_init_flags_are_one_error_line(flags, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", *flags])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()  # argparse: the usage, then one "scratch-lstm train: error:" line
    assert e.value.code == 2 and [l for l in lines if "error:" in l] == lines[-1:] and message in lines[-1]


def test_init_values_for_another_init_are_refused(tmp_path, capsys):
    from scratch_lstm.app.config import TrainConfig
    from scratch_lstm.app.errors import TrainingError
    from scratch_lstm.app.train import train

    for flags, message in ((["--forget-bias", "2"], "--forget-bias is a setting of --init forget-bias, "
                                                    "not of --init default"),
                           (["--init", "forget-bias", "--chrono-t-max", "5"],
                            "--chrono-t-max is a setting of --init chrono, not of --init forget-bias")):
        assert main(["train", *MICRO, *flags, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert error_lines(err) == [f"error: {message}"]
    for bad in ({"init": "forget-bias", "forget_bias": float("nan")}, {"init": "chrono", "chrono_t_max": 2},
                {"init": "chrono", "chrono_t_max": 5.0}, {"init": "xavier"}):
        with pytest.raises(TrainingError, match="must be"):
            train(TrainConfig(dataset="mnist-sample", out=str(tmp_path / "run"), **bad))
    assert not (tmp_path / "run").exists()


def test_inspect_shows_the_init(capsys):
    assert main(["inspect", "--init", "chrono", "--seq-len", "100", "--hidden-size", "16"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("init "))
    assert line.startswith("init chrono (t_max 100): the forget gates start at f = σ(b_if + b_hf)")
    low, high = (float(v) for v in line.split("memory: ")[1].split(" steps")[0].split(" .. "))
    assert 2 <= low < high <= 100
    assert main(["inspect", "--init", "forget-bias", "--forget-bias", "3"]) == 0
    assert f"{1 + math.exp(3):.1f} .. {1 + math.exp(3):.1f} steps" in capsys.readouterr().out
    assert main(["inspect", "--forget-bias", "3"]) == 2
    assert "--forget-bias is a setting of --init forget-bias" in capsys.readouterr().err


# --- the gradient through time ----------------------------------------------------------------

def autograd_flow(model, x, y):
    """dL/dc_t and dL/dh_t norms per layer and step by autograd through the traced steps."""
    steps = []
    _, _ = model.rnn(x, trace=steps)
    logits = model.lin(steps[-1][-1].h)
    loss = F.cross_entropy(logits, y)
    tensors = [s.c for layer in steps for s in layer] + [s.h for layer in steps for s in layer]
    grads = torch.autograd.grad(loss, tensors)
    K, T = len(steps), len(steps[0])
    norm = lambda g: torch.stack([t.norm() for t in g]).view(K, T)  # noqa: E731
    return loss, norm(grads[: K * T]), norm(grads[K * T :])


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("init", ["default", "chrono"])
def test_gradient_flow_equals_autograd(layers, init):
    torch.manual_seed(layers)
    model = LSTMClassifier(input_size=3, hidden_size=5, num_layers=layers, dtype=torch.float64)
    init_gates(model.rnn, init, t_max=12 if init == "chrono" else None)
    x, y = torch.randn(4, 12, 3, dtype=torch.float64), torch.tensor([0, 3, 9, 3])
    flow = gradient_flow(model, x, y)
    loss, dc, dh = autograd_flow(model, x, y)
    assert flow.dc.shape == flow.dh.shape == flow.log10_forget_product.shape == (layers, 12)
    assert flow.loss == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-12)
    torch.testing.assert_close(flow.dc, dc, rtol=1e-10, atol=0)
    torch.testing.assert_close(flow.dh, dh, rtol=1e-10, atol=0)
    f = trace_gates(model.rnn, x)[0].f.transpose(0, 1)  # (T, B, H) of layer 0
    for t in (0, 5, 10, 11):
        product = f[t + 1 :].prod(0) if t < 11 else torch.ones_like(f[0])
        assert flow.log10_forget_product[0, t].item() == pytest.approx(
            math.log10(product.mean().item()), rel=1e-9, abs=1e-12)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("backend", ["fused", "torch"])
def test_gradient_flow_is_the_same_on_every_backend(backend):
    torch.manual_seed(0)
    scratch = LSTMClassifier(2, 4, num_layers=2, dtype=torch.float64)
    other = LSTMClassifier(2, 4, num_layers=2, dtype=torch.float64, backend=backend)
    other.load_state_dict(scratch.state_dict())
    x, y = torch.randn(3, 6, 2, dtype=torch.float64), torch.tensor([1, 2, 3])
    a, b = gradient_flow(scratch, x, y), gradient_flow(other, x, y)
    torch.testing.assert_close(a.dc, b.dc, rtol=1e-12, atol=0)
    torch.testing.assert_close(a.dh, b.dh, rtol=1e-12, atol=0)


def test_gradient_flow_keeps_tiny_gradients_and_leaves_the_model_alone():
    """784 pixels: the default init's gradient falls far below float32's range (kept in float64)."""
    torch.manual_seed(0)
    model = LSTMClassifier(1, 16, num_layers=1, dropout=0.0).train()
    x, y = torch.randn(2, 784, 1), torch.tensor([4, 7])
    flow = gradient_flow(model, x, y)
    assert model.training
    reach = flow.dc[0, -201] / flow.dc[0, -1]  # 200 steps back
    assert 0 < reach < 1e-50 and flow.log10_forget_product[0, 0] < -100
    with pytest.raises(ValueError, match="expects a batch x of shape"):
        gradient_flow(LSTMClassifier(1, 4), torch.randn(2, 3), torch.tensor([0, 1]))  # (B, T) only
    json.dumps(flow.to_dict())


def test_gradient_flow_command_compares_inits(tmp_path, capsys):
    out = tmp_path / "flow"
    assert main(["gradient-flow", "--out", str(out), "--hidden-size", "8", "--batch-size", "4"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "gradient_flow.json").read_text())
    assert list(result["models"]) == ["default", "forget-bias (b_f 1)", "chrono (t_max 784)"]
    assert result["dataset"] == "mnist-sample" and result["images"] == [0, 4]
    for label, m in result["models"].items():
        assert len(m["dc_norm"][0]) == len(m["dh_norm"][0]) == 784 and label in printed
    assert (out / "gradient_flow.png").read_bytes()[:4] == b"\x89PNG"
    # what a learner is meant to see: the default's gradient is gone 100 steps back, chrono's is not
    reach = {label: m["dc_norm"][0][-101] / m["dc_norm"][0][-1] for label, m in result["models"].items()}
    assert reach["default"] < 1e-10 < 1e-2 < reach["chrono (t_max 784)"]
    lines = {line.split(":")[0].strip(): line for line in printed.splitlines()}
    lost = next(lag for lag in range(784) if result["models"]["default"]["dc_norm"][0][-1 - lag]
                < 1e-6 * result["models"]["default"]["dc_norm"][0][-1])
    assert f"default: below 1e-6 from {lost} steps back; 10 steps back" in lines["default"]
    assert "never below 1e-6" in lines["chrono (t_max 784)"]


def test_gradient_flow_command_reads_checkpoints(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "1", "--init", "chrono", "--out", str(run)]) == 0
    out = tmp_path / "flow"
    assert main(["gradient-flow", "--out", str(out), "--checkpoint", str(run / "last.pt"),
                 "--batch-size", "3"]) == 0
    result = json.loads((out / "gradient_flow.json").read_text())
    label = f"{run / 'last.pt'}: chrono (t_max 28), rows"
    assert list(result["models"]) == [label] and len(result["models"][label]["dc_norm"][0]) == 28
    capsys.readouterr()
    assert main(["gradient-flow", "--out", str(out), "--init", "default", "--chrono-t-max", "9"]) == 2
    assert "--chrono-t-max is a setting of --init chrono" in capsys.readouterr().err
    assert main(["gradient-flow", "--out", str(out), "--first-image", "999", "--batch-size", "5"]) == 2
    assert "runs past the test split" in capsys.readouterr().err


# --- the experiment script --------------------------------------------------------------------

def test_adding_problem_sequences():
    x, target = long_memory.adding_batch(500, 40, torch.Generator().manual_seed(0))
    assert x.shape == (500, 40, 2) and target.shape == (500,)
    markers = x[:, :, 1]
    assert torch.equal(markers.sum(1), torch.full((500,), 2.0))
    first = markers[:, :10].sum(1)
    assert (first >= 1).all() and (markers[:, 19:].sum(1) == 0).all()  # within the first T/2 - 1
    marked = (x[:, :, 0] * markers).sum(1)
    torch.testing.assert_close(target, 0.5 + marked / 4)
    assert (x[:, :, 0].abs() <= 1).all()


def test_long_memory_script_writes_table_and_figure(tmp_path, capsys):
    out = tmp_path / "lm"
    assert long_memory.main(["--out", str(out), "--tasks", "adding", "pixels", "--steps", "2",
                             "--adding-steps", "3", "--eval-every", "2", "--test-size", "6",
                             "--batch-size", "4", "--hidden-size", "4", "--adding-length", "30",
                             "--threads", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "CPU threads: 1 (--threads 1)"  # after the plan
    results = json.loads((out / "long_memory.json").read_text())
    assert list(results["runs"]) == ["adding", "pixels"]
    for task, steps in (("adding", [0, 2, 3]), ("pixels", [0, 2])):
        assert list(results["runs"][task]) == list(INITS)
        for history in results["runs"][task].values():
            assert [h["step"] for h in history] == steps
    table = (out / "long_memory.md").read_text().splitlines()
    assert [row.split(" | ")[:2] for row in table[2:8]] == [
        [f"| {task}", init] for task in ("adding", "pixels") for init in INITS]
    assert table[9].startswith("Adding problem: always answering 0.5 scores a test loss (MSE) of")
    assert (out / "long_memory.png").read_bytes()[:4] == b"\x89PNG"
    # the same seed: every init starts from the same weights but for the gate biases
    task = long_memory.Task("adding", long_memory.Budget(hidden_size=4, test_size=2), None,
                            torch.device("cpu"))
    models = {init: long_memory.make_model(task, init, long_memory.Budget(hidden_size=4), "fused", "cpu")
              for init in INITS}
    for name, p in models["default"].named_parameters():
        if "bias" not in name:
            assert all(torch.equal(p, dict(m.named_parameters())[name]) for m in models.values())
    assert "scratch_lstm" in sys.modules and scratch_lstm.gradient_flow is gradient_flow


@pytest.mark.parametrize("flag, value, expected", [
    ("--steps", "0", "must be an integer from 1 to 2**53 (9,007,199,254,740,992), got 0"),
    ("--adding-length", "19", "must be an integer >= 20, got 19"),
    ("--lr", "-1", "must be a finite number > 0, got -1"),
    ("--grad-clip", "nan", "must be a finite number >= 0, got nan"),
    ("--forget-bias", "inf", "must be a finite number float32 can hold (at most 3.403e+38 in size), got inf"),
    ("--threads", "0", "must be from 1 to"),
])
def test_long_memory_script_refuses_bad_budgets_before_training(tmp_path, capsys, flag, value, expected):
    with pytest.raises(SystemExit) as exit_:
        long_memory.main(["--out", str(tmp_path / "lm"), flag, value])
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "lm").exists()


def test_the_gates_command_starts_its_fresh_model_with_the_runs_init(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *MICRO, "--epochs", "1", "--init", "forget-bias", "--forget-bias", "6",
                 "--out", str(run)]) == 0
    assert main(["gates", "--checkpoint", str(run / "last.pt"), "--out", str(tmp_path / "gates")]) == 0
    fresh = json.loads((tmp_path / "gates" / "gates.json").read_text())["fresh"]
    assert fresh["saturation"]["l0_forward"]["f_open"] > 0.9  # σ(6) = 0.9975: open from the start
