"""Every lesson is also a notebook from one source: notebooks/<name>.ipynb holds the cells of
examples/<name>.py (jupytext's percent format) and runs top to bottom in a fresh kernel, within
its time limit, with no error (scripts/build_notebooks.py builds them)."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

jupytext = pytest.importorskip("jupytext", reason="the [notebooks] extra (in [test])")
pytest.importorskip("nbclient", reason="the [notebooks] extra (in [test])")
pytest.importorskip("ipykernel", reason="the [notebooks] extra (in [test])")

import build_notebooks  # noqa: E402
from test_examples import EXAMPLES, NOTEBOOK_RUNS  # noqa: E402

EXAMPLE_FILES = build_notebooks.examples()
EXPECTED = {script: lines for script, _, lines in EXAMPLES}


def cells(nb) -> list[tuple[str, str]]:
    return [(cell["cell_type"], "".join(cell["source"])) for cell in nb["cells"]]


def test_every_example_is_a_lesson_with_a_notebook():
    assert {p.name for p in EXAMPLE_FILES} == {p.name for p in (ROOT / "examples").glob("0*.py")}
    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == [p.stem for p in EXAMPLE_FILES]


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_the_committed_notebook_holds_its_sources_cells(example):
    """Edit the .py, then run python scripts/build_notebooks.py NAME: this fails until then."""
    committed = json.loads(build_notebooks.notebook_path(example).read_text())
    assert cells(committed) == cells(build_notebooks.read_example(example)), (
        f"notebooks/{example.stem}.ipynb is not {example.name}: run python scripts/build_notebooks.py {example.stem}")


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_the_committed_notebook_is_executed_small_and_settled(example):
    nb = json.loads(build_notebooks.notebook_path(example).read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))  # executed, in order
    assert any(c["outputs"] for c in code)
    assert nb["metadata"] == {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                              "language_info": {"name": "python"}}  # no versions, no timestamps
    assert all(c["metadata"] == {} for c in nb["cells"])
    assert build_notebooks.notebook_path(example).stat().st_size < 400_000
    text = json.dumps(nb, ensure_ascii=False)
    assert not re.search(r"\d samples/s|ETA \d|\bin \d+ s\b", text)  # timings, which change from run to run
    assert "/tmp/" not in text and not re.search(r" at 0x[0-9a-f]", text)  # temporary folders, addresses
    for cell in code:  # the kernel's pieces of printing joined (how it cuts them depends on timing)
        kinds = [o.get("name", o["output_type"]) for o in cell["outputs"]]
        assert all(a != b or a not in ("stdout", "stderr") for a, b in zip(kinds, kinds[1:]))


def test_a_lesson_starts_with_what_it_teaches_and_ends_with_exercises():
    for example in EXAMPLE_FILES:
        if not example.read_text().startswith("# %% [markdown]"):
            continue  # not yet in the percent format
        nb = build_notebooks.read_example(example)
        first = "".join(nb.cells[0].source)
        assert "**Teaches:**" in first and "**Know first:**" in first and "**Runs in**" in first, example.name
        assert "on a CPU" in first, example.name
        start = [k for k, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
        assert len(start) == 1, example.name
        after = "".join(c.source for c in nb.cells[start[0]:] if c.cell_type == "code")
        n = after.count("print(check_")
        assert 2 <= n <= 4 and after.count(" = None  # exercise ") == n, example.name  # a cell to fill, a check


def test_the_scrub_takes_out_timings_and_temporary_folders():
    text = ("epoch 1/2: train loss 2.2938 | 0.3 s, 1492 samples/s; run ETA 0:00:17\ntrained in 124 s\n"
            "<torch._C.Generator at 0x7f5bf53431b0>"
            "test accuracy: 10.50%; run folder: /tmp/scratch-lstm-gates-zqx_7nlb/run\n")
    assert build_notebooks.scrub(text) == ("epoch 1/2: train loss 2.2938 | … s, … samples/s; run ETA …\n"
                                           "trained in … s\n<torch._C.Generator at 0x…>"
                                           "test accuracy: 10.50%; run folder: …/scratch-lstm-gates-…/run\n")


def test_a_full_build_removes_the_notebooks_of_examples_that_are_gone(tmp_path, monkeypatch):
    (tmp_path / "examples").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "examples" / "01_new.py").write_text("# %%\nprint(1)\n")
    for name in ("01_new", "01_old"):
        (tmp_path / "notebooks" / f"{name}.ipynb").write_text("{}")
    (tmp_path / "notebooks" / "notes.ipynb").write_text("{}")  # not a lesson's: left alone
    monkeypatch.setattr(build_notebooks, "EXAMPLES", tmp_path / "examples")
    monkeypatch.setattr(build_notebooks, "NOTEBOOKS", tmp_path / "notebooks")
    assert build_notebooks.stale() == [tmp_path / "notebooks" / "01_old.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_the_notebook_runs_top_to_bottom(example, tmp_path, monkeypatch):
    """In a fresh kernel of this interpreter (the venv's ipykernel), within the limit; and it prints
    what the script promises. The examples that take no flags run here only (test_examples)."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    nb = build_notebooks.read_example(example)
    build_notebooks.execute(nb, example, tmp_path)  # raises on any error, or past the limit
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if example.name in NOTEBOOK_RUNS:
        for line in EXPECTED[example.name]:
            assert line in printed, line
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # nothing written beside it
    assert not list((tmp_path / "tmp").glob("scratch-lstm-*")), "temporary run folders left behind"
