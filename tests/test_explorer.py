"""The gate explorer's page, without a browser: what it carries, the command, the built-in model.

The page in a real browser (its forward against PyTorch's, what it shows, every control) is
tests/test_explorer_browser.py.
"""

import base64
import json
import os
import re
from importlib import resources

import numpy as np
import pytest
import torch

from scratch_lstm import LSTMClassifier
from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint
from scratch_lstm.app.cli import main
from scratch_lstm.app.config import init_of_checkpoint
from scratch_lstm.app.data import load_sample
from scratch_lstm.app.explorer import ExplorerPage, explore
from scratch_lstm.app.explorer.page import ASSETS, SAMPLE_MODEL_KEYS, SCRIPTS, sample_checkpoint
from scratch_lstm.app.gates_report import fresh_model

MICRO = ["--dataset", "mnist-sample", "--log-every", "0", "--train-subset", "40", "--hidden-size", "6",
         "--num-layers", "2", "--batch-size", "20", "--epochs", "1", "--threads", "1"]


def page_data(html: str) -> dict:
    """The JSON the page carries."""
    found = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


@pytest.fixture(scope="module")
def default_page() -> ExplorerPage:
    return explore(threads=1)


def test_the_page_is_one_self_contained_file(default_page):
    html = default_page.html
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://", html), "the page names a network address"
    assert not re.search(r"<(script|img|iframe|audio|video|source)\b[^>]*\bsrc=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert "default-src 'none'" in html  # the page's own policy refuses every request
    for marker in ("{{title}}", "/*{{css}}*/", "<!--{{scripts}}-->", "{{data}}"):
        assert marker not in html  # every marker was filled
    for name in ASSETS[1:]:
        text = resources.files("scratch_lstm.app.explorer").joinpath(name).read_text()
        assert text.strip() in html, f"{name} is not inlined as it is"
    assert html.index('id="lstm-forward"') < html.index('id="explorer-data"')  # the source shows the LSTM first
    names = {p.name for p in resources.files("scratch_lstm.app.explorer").iterdir()}
    assert {n for n in names if n.endswith((".js", ".css", ".html"))} == set(ASSETS)  # every file is inlined
    for name in SCRIPTS:  # each opens by saying what it shows and which data it reads
        text = resources.files("scratch_lstm.app.explorer").joinpath(name).read_text()
        assert text.startswith(f"// {name}: ") and "\n// Reads " in text[:900], name
        assert len(text.splitlines()) <= 340, f"{name} has grown past a file a reader walks through"


def test_the_page_carries_the_weights_exactly_and_one_digit_per_class(default_page):
    data = page_data(default_page.html)
    ckpt = sample_checkpoint()
    trained = model_from_checkpoint(ckpt, backend="scratch")
    fresh = fresh_model(ckpt)
    for name, model in (("trained", trained), ("fresh", fresh)):
        w = data["weights"][name]
        for k, layer in enumerate(w["layers"]):
            for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                expected = getattr(model.rnn, f"{p}_l{k}").detach().numpy().ravel()
                assert np.array_equal(floats(layer[p]), expected), (name, k, p)  # bit for bit
        assert np.array_equal(floats(w["lin_weight"]), model.lin.weight.detach().numpy().ravel())
    assert not np.array_equal(floats(data["weights"]["trained"]["layers"][0]["weight_hh"]),
                              floats(data["weights"]["fresh"]["layers"][0]["weight_hh"]))
    sample = load_sample()
    assert [d["label"] for d in data["digits"]] == list(range(10))
    for d in data["digits"]:
        assert sample.test_labels[d["index"]] == d["label"]
        assert sample.test_labels[: d["index"]].tolist().count(d["label"]) == 0  # the first of its class
        pixels = np.frombuffer(base64.b64decode(d["pixels"]), dtype=np.uint8)
        assert np.array_equal(pixels, sample.test_images[d["index"]].numpy().ravel())
        K, T = data["model"]["num_layers"], data["model"]["steps"]
        for name in ("trained", "fresh"):
            assert floats(d["gradient"][name]["dc"]).shape == (K * T,)
            assert floats(d["gradient"][name]["forget"])[T - 1] == 0  # the empty product at the last step
            assert len(d["logits"][name]) == 10
    assert data["model"]["permutation"] is None  # rows: no permutation
    assert data["model"]["steps"] == 28 and data["model"]["hidden_size"] == 64
    assert default_page.size == len(default_page.html.encode()) < 1_000_000


def test_the_builtin_model_is_the_runs_record():
    ckpt = sample_checkpoint()
    assert set(SAMPLE_MODEL_KEYS) | {"model", "made_by"} == set(ckpt)
    assert ckpt["model_config"] == {"input_size": 28, "hidden_size": 64, "num_classes": 10, "num_layers": 2,
                                    "dropout": 0.0}
    assert ckpt["dataset"] == "mnist-sample" and ckpt["config"]["seed"] == 0
    assert "scratch-lstm train" in ckpt["made_by"]["command"]
    assert ckpt["history"][-1]["test_acc"] > 0.9  # measured 97.20% on the sample's 1,000 test images
    model_from_checkpoint(ckpt)  # every weight fits and is finite


def test_the_fresh_model_is_the_runs_own_start(tmp_path):
    """A run whose one Adam step moves no weight (lr 1e-30) saves its initial weights: the page's
    fresh model must be exactly those, with the run's seed and --init."""
    out = tmp_path / "run"
    assert main(["train", *MICRO, "--lr", "1e-30", "--seed", "7", "--init", "forget-bias", "--forget-bias", "2",
                 "--out", str(out)]) == 0
    ckpt = load_checkpoint(out / "last.pt")
    fresh = fresh_model(ckpt)
    for name, p in fresh.state_dict().items():  # the step moves a weight by ~lr: a zeroed bias to ~1e-30
        torch.testing.assert_close(p, ckpt["model"][name], rtol=0, atol=1e-20, msg=name)
    assert init_of_checkpoint(ckpt).init == "forget-bias"
    state = torch.get_rng_state()
    fresh_model(ckpt)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is left alone


def test_the_command_writes_the_page_and_says_where(tmp_path, capsys):
    out = tmp_path / "sub" / "page.html"
    assert main(["explore", "--out", str(out), "--digits", "3", "5", "--threads", "1"]) == 0
    said = capsys.readouterr().out
    assert f"wrote {out}" in said and "file://" in said
    data = page_data(out.read_text())
    assert [d["index"] for d in data["digits"]] == [3, 5]
    assert [p.name for p in out.parent.iterdir()] == ["page.html"]  # no temporary file left


@pytest.mark.parametrize("args, message", [
    (["--digits", "1000"], "--digits 1000 is out of range: the test split of mnist-sample has 1000 images"),
    (["--checkpoint", "nothing.pt"], "checkpoint nothing.pt does not exist"),
    (["--dataset", "mnist", "--data-dir", "no-such-folder"], "--data-dir no-such-folder does not exist"),
])
def test_mistakes_are_one_error_line_and_nothing_written(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "page.html"
    assert main(["explore", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not out.exists()


def test_an_out_that_is_a_folder_is_refused_before_any_work(tmp_path, capsys):
    assert main(["explore", "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err


def test_a_checkpoint_of_the_sample_reads_full_mnist_with_data_dir():
    data_dir = os.environ.get("SCRATCH_LSTM_MNIST_DIR")
    if not data_dir:
        pytest.skip("set SCRATCH_LSTM_MNIST_DIR to a folder holding full MNIST")
    page = explore(data_dir=data_dir, digits=[0], threads=1)
    assert page.digits == [(7, "mnist test image 0")]
    assert "full MNIST's test split" in page.notes[0]


def test_repr_html_is_the_page_in_an_iframe(default_page):
    shown = default_page._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "&lt;!DOCTYPE html&gt;" in shown
    assert "<script" not in shown  # escaped: the notebook's own page runs none of it


def test_save_replaces_the_page_atomically(default_page, tmp_path):
    out = tmp_path / "page.html"
    out.write_text('<meta name="generator" content="scratch-lstm">an earlier page')  # its own: replaced
    assert default_page.save(out) == out
    assert out.read_text() == default_page.html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


@pytest.mark.slow
def test_the_lectures_model_makes_a_page_under_12_mb(tmp_path):
    """Size only depends on the shapes: a lecture-sized run of one step on 20 images."""
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--log-every", "0", "--train-subset", "20",
                 "--batch-size", "20", "--epochs", "1", "--threads", "1", "--out", str(out)]) == 0
    page = explore(out / "last.pt", threads=1)
    assert LSTMClassifier().rnn.hidden_size == page_data(page.html)["model"]["hidden_size"] == 256
    assert 8_000_000 < page.size < 12_000_000, page.size


def test_the_page_carries_the_clamp_rules_gateclamp_uses(default_page):
    from scratch_lstm.clamps import CLAMP_LIMITS, CLAMP_RANGES

    rules = page_data(default_page.html)["clamp_rules"]
    assert rules == {"ranges": {g: list(r) for g, r in CLAMP_RANGES.items()}, "limits": CLAMP_LIMITS}
    script = resources.files("scratch_lstm.app.explorer").joinpath("clamps.js").read_text()
    number = re.search(r"const CLAMP_NUMBER = /\^(.*)\$/;", script).group(1)
    from scratch_lstm.clamps import INDEX, NUMBER

    assert number == NUMBER.pattern and f"/^{INDEX.pattern}$/" in script  # one grammar, written twice, kept equal


def test_the_page_carries_each_units_mean_per_class(default_page):
    from scratch_lstm import trace_gates
    from scratch_lstm.app.data import STATS, sequence_view

    means = page_data(default_page.html)["class_means"]
    assert means["counts"] == [100] * 10 and means["per_class"] == 100
    trained = np.frombuffer(base64.b64decode(means["trained"]), dtype="<f4").reshape(2, 6, 10, 64)
    model = model_from_checkpoint(sample_checkpoint(), backend="scratch").eval()
    ds = load_sample()
    for cls in (2, 9):
        index = torch.nonzero(ds.test_labels == cls).flatten()[:100]
        with torch.no_grad():
            traces = trace_gates(model.rnn, sequence_view(ds.test_images[index], "rows", *STATS["mnist"]))
        for k in (0, 1):
            for n, q in enumerate("ifgoch"):
                expected = getattr(traces[k], q).double().mean(dim=(0, 1)).numpy()  # (H,)
                np.testing.assert_allclose(trained[k, n, cls], expected, atol=1e-6)
