"""The cell diagram of the docs is drawn by a script: it runs, writes the file it is asked for, and
names the variables of ``lstm_step`` as the code does."""

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "draw_lstm_cell.py"


@pytest.mark.parametrize("name, magic", [("cell.png", b"\x89PNG\r\n\x1a\n"), ("cell.svg", b"<?xml")])
def test_draw_lstm_cell_writes_the_figure(tmp_path, name, magic):
    out = tmp_path / "figures" / name  # a folder that does not exist yet
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(magic) and out.stat().st_size > 10_000
    assert f"wrote {out}" in proc.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "figures"]  # nothing else written


def lstm_step_names() -> set[str]:
    """The arguments of ``lstm_step`` and every name it assigns, read from cell.py's source."""
    tree = ast.parse((ROOT / "scratch_lstm" / "cell.py").read_text())
    step = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "lstm_step")
    names = {a.arg for a in step.args.args}
    for node in ast.walk(step):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def test_the_diagram_names_the_variables_of_lstm_step():
    spec = importlib.util.spec_from_file_location("draw_lstm_cell", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    names = lstm_step_names()
    assert {"x", "h_prev", "c_prev", "z_f", "i", "f", "g", "o", "c", "h"} <= names  # the reading works
    assert set(script.SYMBOLS) <= names, set(script.SYMBOLS) - names
    assert len(script.SYMBOLS) == 13  # x, h_{t-1}, c_{t-1}, four z, four gates, c_t, h_t
