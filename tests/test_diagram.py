"""The cell diagram of the docs is drawn by a script: it runs, writes the file it is asked for, and
names the variables of ``lstm_step`` as the code does."""

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "draw_lstm_cell.py"
STORY = ROOT / "scripts" / "draw_lstm_story.py"


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


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_draw_lstm_story_draws_the_committed_figures(tmp_path):
    """The unrolled cell and the four stages of docs/why-lstm.md: the script writes all five
    into the folder asked for (and nothing else), each the size of the committed one, and the
    page shows every one of them."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(STORY), "--out-dir", str(tmp_path / "figures")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": pythonpath})
    assert proc.returncode == 0, proc.stderr
    names = ["lstm_unrolled.png", "lstm_stage1.png", "lstm_stage2.png", "lstm_stage3.png", "lstm_stage4.png"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(names)
    assert list(tmp_path.iterdir()) == [tmp_path / "figures"]
    page = (ROOT / "docs" / "why-lstm.md").read_text(encoding="utf-8")
    for name in names:
        drawn = (tmp_path / "figures" / name).read_bytes()
        assert f"wrote {tmp_path / 'figures' / name}" in proc.stdout
        assert png_size(drawn) == png_size((ROOT / "docs" / name).read_bytes()), name
        assert f"]({name})" in page, name
