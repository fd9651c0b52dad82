"""Every example runs as a script (fast settings), prints what it promises and leaves no
temporary folders behind. The examples that take no flags run the same code as their notebooks:
tests/test_notebooks.py runs those (NOTEBOOK_RUNS) and checks the same lines, once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = [
    ("01_hand_wired_memory.py", ["--threads", "1"], [
        "scratch_lstm.LSTM and nn.LSTM on 1,000 streams: max |difference| ",
        "hand-wired: 100.0% of the streams solved",
        "   2    -1     1      0  | 1.000  0.000 -0.995  0.000 | -0.995 -0.000",
        "  59    +0     0      1  | 0.000  1.000 +0.000  1.000 | -0.992 -0.758",
        "f=0.5: the bit fades: halved at every step, nothing is left at the query; 0.0% solved",
        "o=1: the cell shows at every step: it answers before it is asked; 0.0% solved",
        "trained 400 steps in ", "mean o at the query "]),
    ("02_parameters.py", [], [
        "Total number of parameters:[821,770].",
        "= 819,200: the LSTM alone, without the Linear head; + 2,570 for the head = 821,770",
        "layer 0 under textbook names: 16 views",
        "  f (forget)      256:512    W_if [256, 28]    W_hf [256, 256]   b_if [256]        b_hf [256]",
        "(a view, not a copy): True"]),
    ("03_equivalence.py", [], ["copied back into nn.LSTM (strict): True",
                               "scratch / packed: outputs, h_n, c_n and 21 gradients agree to",
                               "(ran fused_lstm_layer)",  # fused / padded
                               "(ran lstm_layer: packed input falls back to the teaching path)"]),
    ("04_train_sequence_mnist.py", ["--fast", "--threads", "1"], ["epoch 1: last batch's loss",
                                                                  "the lecture's func_eval on the test split:",
                                                                  "data: mnist-sample from the embedded sample",
                                                                  "CPU threads: 1 ("]),
    ("05_gates.py", ["--fast", "--threads", "1"],
     ["max |c_t - (f_t*c_(t-1) + i_t*g_t)| over 28 steps = 0.0e+00"]),
    ("06_gpu_kernels.py", [], ["largest difference over all 8x20 units"]),
    ("07_why_gates.py", ["--fast", "--threads", "1"], [
        "||dL/dh_t|| and ||dL/dc_t|| relative to the last step (t = 49), fresh models, one batch of 64:",
        "  steps back                        dh 10      dc 10      dh 25      dc 25      dh 49      dc 49",
        "  plain RNN                       5.7e-03  (no cell)    6.9e-06  (no cell)    1.3e-10  (no cell)",
        "  LSTM, chrono forget gates       7.7e-03    6.3e-01    3.6e-03    4.0e-01    1.6e-03    2.2e-01",
        "trained 60 steps each", "wrote "]),
]


# the examples that train: they take --threads
TRAINING = ("01_hand_wired_memory.py", "04_train_sequence_mnist.py", "05_gates.py", "07_why_gates.py")

# run with their defaults as notebooks only, by tests/test_notebooks.py (the same code as the script
# without flags); the tests of 04's --full and 05's --checkpoint below run those two as scripts
NOTEBOOK_RUNS = ("02_parameters.py", "03_equivalence.py", "04_train_sequence_mnist.py", "05_gates.py",
                 "06_gpu_kernels.py")


def header(script: str) -> str:
    """What an example says first: its first text cell (jupytext's percent format) or its docstring."""
    source = (ROOT / "examples" / script).read_text()
    if source.startswith("# %% [markdown]"):
        return source.split("\n# %%")[0].replace("\n# ", "\n")
    return source.split('"""')[1]


def run_example(script, args, tmp_path):
    """Run ``examples/<script>`` in ``tmp_path``, its temporary folders in ``tmp_path/tmp``."""
    tmp = tmp_path / "tmp"  # the examples' temporary folders go here (TMPDIR)
    tmp.mkdir(exist_ok=True)
    # this checkout's package, not whichever copy is installed
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": pythonpath})


@pytest.mark.parametrize("script, args, expected", [e for e in EXAMPLES if e[0] not in NOTEBOOK_RUNS])
def test_example_runs(script, args, expected, tmp_path):
    if script == "05_gates.py":
        args = args + ["--out", str(tmp_path / "gates")]
    if script == "07_why_gates.py":
        args = args + ["--out", str(tmp_path / "why")]
    proc = run_example(script, args, tmp_path)
    tmp = tmp_path / "tmp"
    assert proc.returncode == 0, proc.stderr
    for line in expected:
        assert line in proc.stdout, line
    assert not list(tmp.glob("scratch-lstm-*")), "temporary run folders left behind"
    if script == "05_gates.py":  # the outputs asked for with --out are kept
        assert {p.name for p in (tmp_path / "gates").iterdir()} == {
            "gates_trained.png", "gates_fresh.png", "trajectory.png", "change.png", "gates.json"}
    if script == "07_why_gates.py":
        assert (tmp_path / "why" / "why_gates.png").read_bytes()[:4] == b"\x89PNG"
        assert json.loads((tmp_path / "why" / "why_gates.json").read_text())["reach"]["lstm"]["c"]["49"] < 1e-9
        assert not list(tmp.glob("why-gates-*")) and not list(tmp_path.glob("*.png"))  # nothing elsewhere
    check_header(script)


def check_header(script):
    text = header(script)
    assert "Teaches:" in text and ("Runs in" in text or "seconds" in text)
    if script in TRAINING:  # a time says under which conditions it was measured (a Measured box at the end)
        source = (ROOT / "examples" / script).read_text()
        measured = source.split("# ## Measured")[-1] if "# ## Measured" in source else text
        assert "--threads 1" in measured and "AMD EPYC" in measured


@pytest.mark.parametrize("script", NOTEBOOK_RUNS)
def test_the_notebook_run_examples_say_what_they_teach(script):
    """What test_example_runs checks of the others' headers."""
    check_header(script)


def test_example_4_writes_the_training_loop_out():
    """The default path is the loop itself, not the app's trainer (which --full uses)."""
    source = (ROOT / "examples" / "04_train_sequence_mnist.py").read_text()
    loop = source.split("if args.full:")[1].split("sys.exit(0)")[1]  # what runs without --full
    for line in ("torch.optim.Adam(", "F.cross_entropy(", "loss.backward()", "optimizer.step()",
                 "optimizer.zero_grad()", "model.eval()", "torch.no_grad()"):
        assert line in loop, line
    assert "train(" not in loop.replace("model.train()", "")


def test_example_4_full_runs_the_apps_trainer_and_cleans_up(tmp_path):
    from test_data import write_split

    write_split(tmp_path / "data", n_train=40, n_test=10)
    proc = run_example("04_train_sequence_mnist.py", ["--full", "--fast", "--data-dir", "data", "--threads", "1"],
                       tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "the lecture's func_eval on the test split:" in proc.stdout
    assert "run folder deleted (pass --out DIR to keep it)" in proc.stdout
    assert proc.stdout.count("CPU threads: 1 (--threads 1)") == 1 and "data: mnist from" in proc.stdout
    assert not list((tmp_path / "tmp").glob("scratch-lstm-*")), "temporary run folders left behind"
    proc = run_example("04_train_sequence_mnist.py", ["--full", "--data-dir", "nowhere"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: mnist not found: --data-dir nowhere")
    assert "Traceback" not in proc.stderr


def test_example_5_reads_the_checkpoint_of_a_first_run_on_the_sample(tmp_path):
    """``scratch-lstm train`` without --data-dir trains on the embedded sample and writes
    runs/exp1/best.pt; example 5 takes that checkpoint as it is."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    train = subprocess.run([sys.executable, "-m", "scratch_lstm", "train", "--hidden-size", "16", "--epochs", "1",
                            "--train-subset", "100", "--threads", "1"], capture_output=True, text=True,
                           timeout=300, cwd=tmp_path, env=env)
    assert train.returncode == 0, train.stderr
    assert (tmp_path / "runs" / "exp1" / "best.pt").exists()
    proc = run_example("05_gates.py", ["--checkpoint", "runs/exp1/best.pt", "--out", "gates", "--threads", "1"],
                       tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "mnist-sample test image 0" in proc.stdout
    assert "max |c_t - (f_t*c_(t-1) + i_t*g_t)| over 28 steps = 0.0e+00" in proc.stdout
    assert proc.stdout.count("CPU threads: 1 (--threads 1)") == 1 and "CPU threads: 2" not in proc.stdout
    assert {p.name for p in (tmp_path / "gates").iterdir()} == {  # the outputs asked for with --out are kept
        "gates_trained.png", "gates_fresh.png", "trajectory.png", "change.png", "gates.json"}
    assert not list((tmp_path / "tmp").glob("scratch-lstm-*")), "temporary run folders left behind"


def test_every_example_is_tested():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(e[0] for e in EXAMPLES)
