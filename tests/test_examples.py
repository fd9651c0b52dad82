"""Every example runs as a script (fast settings) and prints what it promises."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = [
    ("01_how_lstm_works.py", [], "scratch LSTM: x:[2, 20, 28] => rnn_out:[2, 20, 256]"),
    ("02_parameters.py", [], "Total number of parameters:[821,770]."),
    ("03_equivalence.py", [], "copied back into nn.LSTM (strict): True"),
    ("04_train_sequence_mnist.py", ["--fast"], "seed's func_eval on the test split:"),
    ("05_gates.py", ["--fast"], "max |c_t - (f_t*c_(t-1) + i_t*g_t)| over 28 steps"),
    ("06_gpu_kernels.py", [], "largest difference over all 8x20 units"),
]


@pytest.mark.parametrize("script, args, expected", EXAMPLES)
def test_example_runs(script, args, expected, tmp_path):
    if script == "05_gates.py":
        args = args + ["--out", str(tmp_path / "gates")]
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout
    header = (ROOT / "examples" / script).read_text().split('"""')[1]
    assert "Teaches:" in header and ("Runs in" in header or "seconds" in header)


def test_every_example_is_tested():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(e[0] for e in EXAMPLES)
