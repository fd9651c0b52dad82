"""Every example runs as a script (fast settings), prints what it promises and leaves no
temporary folders behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = [
    ("01_how_lstm_works.py", [], ["scratch LSTM: x:[2, 20, 28] => rnn_out:[2, 20, 256]"]),
    ("02_parameters.py", [], [
        "Total number of parameters:[821,770].",
        "= 819,200: the LSTM alone, without the Linear head; + 2,570 for the head = 821,770",
        "layer 0 under textbook names: 16 views",
        "  f (forget)      256:512    W_if [256, 28]    W_hf [256, 256]   b_if [256]        b_hf [256]",
        "(a view, not a copy): True"]),
    ("03_equivalence.py", [], ["copied back into nn.LSTM (strict): True"]),
    ("04_train_sequence_mnist.py", ["--fast"], ["the lecture's func_eval on the test split:",
                                                "run folder deleted (pass --out DIR to keep it)"]),
    ("05_gates.py", ["--fast"], ["max |c_t - (f_t*c_(t-1) + i_t*g_t)| over 28 steps = 0.0e+00"]),
    ("06_gpu_kernels.py", [], ["largest difference over all 8x20 units"]),
    ("07_why_gates.py", ["--fast", "--threads", "1"], [
        "||dL/dh_t|| relative to the last step (t = 49), for fresh models on one batch of 64:",
        "  plain RNN                    10 back ", "  LSTM, chrono forget gates    10 back ",
        "trained 60 steps each", "wrote "]),
]


@pytest.mark.parametrize("script, args, expected", EXAMPLES)
def test_example_runs(script, args, expected, tmp_path):
    if script == "05_gates.py":
        args = args + ["--out", str(tmp_path / "gates")]
    if script == "07_why_gates.py":
        args = args + ["--out", str(tmp_path / "why")]
    tmp = tmp_path / "tmp"  # the examples' temporary folders go here (TMPDIR)
    tmp.mkdir()
    # this checkout's package, not whichever copy is installed
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": pythonpath})
    assert proc.returncode == 0, proc.stderr
    for line in expected:
        assert line in proc.stdout, line
    assert not list(tmp.glob("scratch-lstm-*")), "temporary run folders left behind"
    if script == "05_gates.py":  # the outputs asked for with --out are kept
        assert {p.name for p in (tmp_path / "gates").iterdir()} == {
            "gates_trained.png", "gates_fresh.png", "trajectory.png", "change.png", "gates.json"}
    if script == "07_why_gates.py":
        assert (tmp_path / "why" / "why_gates.png").read_bytes()[:4] == b"\x89PNG"
        assert not list(tmp.glob("why-gates-*")) and not list(tmp_path.glob("*.png"))  # nothing elsewhere
    header = (ROOT / "examples" / script).read_text().split('"""')[1]
    assert "Teaches:" in header and ("Runs in" in header or "seconds" in header)


def test_every_example_is_tested():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(e[0] for e in EXAMPLES)
