"""Build the lessons as executed notebooks: every examples/0*.py (jupytext's percent format: ``# %%``
code cells, ``# %% [markdown]`` text cells) becomes notebooks/<name>.ipynb, run top to bottom with
its defaults on the CPU, outputs and figures included, so it reads on a code-hosting site without
running anything.

    python scripts/build_notebooks.py                  # every example (and removes the notebooks of
                                                       # examples that are gone)
    python scripts/build_notebooks.py 02_parameters    # some of them

Needs the ``[notebooks]`` extra (jupytext, nbclient, nbformat, ipykernel). Each notebook runs in
a fresh kernel of this interpreter, in a temporary folder (nothing is written into the checkout
but the notebook), with one CPU thread. The file holds no volatile metadata (no timestamps, no
kernel or Python version, cell ids and execution counts numbered in order), and the outputs'
timings and temporary folder names, which change from run to run, are written as ``…``: a rebuild
without a change is no diff. tests/test_notebooks.py keeps the notebooks' cells equal to their
sources and runs every notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = ROOT / "notebooks"
LIMIT_S = 300  # a notebook's time limit: its defaults run in at most about 3 minutes on 2 cores

VOLATILE = [  # (pattern, replacement) in the outputs' text: what changes from run to run
    (re.compile(r"\d+(\.\d+)? s, \d+(\.\d+)? samples/s"), "… s, … samples/s"),  # the trainer's speed
    (re.compile(r"ETA \d+:\d\d:\d\d"), "ETA …"),  # and its estimate of the time left
    (re.compile(r"\bin \d+(\.\d+)? s\b"), "in … s"),  # a run's duration
    (re.compile(r" at 0x[0-9a-f]+>"), " at 0x…>"),  # an object's address in its repr
    (re.compile(r"[^\s'\"]*/((?:scratch-lstm|why-gates)(?:-[a-z]+)*-)[A-Za-z0-9_]+"), r"…/\1…"),  # temp folders
]


def examples() -> list[Path]:
    """Every lesson: examples/0*.py, in order."""
    return sorted(EXAMPLES.glob("0*.py"))


def notebook_path(example: Path) -> Path:
    """Where ``example``'s notebook lives: notebooks/<name>.ipynb."""
    return NOTEBOOKS / f"{example.stem}.ipynb"


def stale() -> list[Path]:
    """The notebooks whose example is gone (renamed or removed): this script's own earlier output."""
    names = {p.stem for p in examples()}
    return sorted(p for p in NOTEBOOKS.glob("0*.ipynb") if p.stem not in names)


def read_example(example: Path) -> nbformat.NotebookNode:
    """The example as an unexecuted notebook, with only a kernel in its metadata."""
    nb = jupytext.read(example, fmt="py:percent")
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell-{k:02d}"  # ids in order, not random ones
        cell.metadata = {}
    return nb


@contextlib.contextmanager
def this_interpreters_kernel():
    """A kernel spec named ``python3`` that runs this interpreter (``sys.executable``), ahead of any
    other on the search path (``JUPYTER_PATH``): a venv's kernel, whatever else is installed."""
    from ipykernel.kernelspec import write_kernel_spec

    with tempfile.TemporaryDirectory(prefix="kernels-") as path:
        write_kernel_spec(Path(path) / "kernels" / "python3")
        before = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [path, before]))
        try:
            yield
        finally:
            if before is None:
                del os.environ["JUPYTER_PATH"]
            else:
                os.environ["JUPYTER_PATH"] = before


def execute(nb: nbformat.NotebookNode, example: Path, workdir: Path, limit_s: float = LIMIT_S) -> float:
    """Run ``nb`` (``example``'s notebook) top to bottom in a fresh kernel of this interpreter,
    in ``workdir``, as the script would run with no flags (``sys.argv`` and ``__file__`` say the
    example), this checkout's package first on the path, one CPU thread. Raises nbclient's
    ``CellExecutionError`` on an error and ``TimeoutError`` past ``limit_s``; returns the seconds."""
    setup = nbformat.v4.new_code_cell(f"import sys\nsys.argv = [{str(example)!r}]\n__file__ = {str(example)!r}")
    nb.cells.insert(0, setup)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    start = time.perf_counter()
    try:
        with this_interpreters_kernel():
            NotebookClient(nb, kernel_name="python3", timeout=int(limit_s), record_timing=False,
                           resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        nb.cells.pop(0)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    seconds = time.perf_counter() - start
    if seconds > limit_s:
        raise TimeoutError(f"{example.name} ran {seconds:.0f} s, more than its limit of {limit_s:.0f} s")
    return seconds


def settle(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Take out what changes from run to run: the kernel's metadata, execution counts out of order,
    the outputs' timings and temporary folder names (:data:`VOLATILE`)."""
    nb.metadata = {"kernelspec": nb.metadata["kernelspec"], "language_info": {"name": "python"}}
    count = 0
    for cell in nb.cells:
        cell.metadata = {}
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = joined_streams(cell.outputs)
        for output in cell.outputs:
            if output.get("execution_count") is not None:
                output.execution_count = count
            if output.output_type == "stream":
                output.text = scrub(output.text)
            for kind in ("text/plain",):
                if kind in output.get("data", {}):
                    output.data[kind] = scrub(output.data[kind])
    return nb


def joined_streams(outputs: list) -> list:
    """``outputs`` with each run of consecutive stdout (or stderr) pieces joined into one: how the
    kernel cuts a cell's printing into messages depends on timing."""
    joined = []
    for output in outputs:
        if (output.output_type == "stream" and joined and joined[-1].output_type == "stream"
                and joined[-1].name == output.name):
            joined[-1].text += output.text
        else:
            joined.append(output)
    return joined


def scrub(text: str) -> str:
    """``text`` with its volatile parts written as ``…``."""
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def build(example: Path) -> float:
    """Execute ``example`` as a notebook and write notebooks/<name>.ipynb; returns the seconds."""
    nb = read_example(example)
    with tempfile.TemporaryDirectory(prefix="notebook-") as workdir:
        seconds = execute(nb, example, Path(workdir))
    NOTEBOOKS.mkdir(exist_ok=True)
    nbformat.write(settle(nb), notebook_path(example))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build notebooks/*.ipynb from examples/0*.py, executed")
    parser.add_argument("names", nargs="*", help="examples to build (e.g. 02_parameters; default: all)")
    args = parser.parse_args(argv)
    chosen = examples()
    if args.names:
        unknown = set(args.names) - {p.stem for p in chosen} - {p.name for p in chosen}
        if unknown:
            parser.error(f"no such example: {', '.join(sorted(unknown))}; the examples are "
                         f"{', '.join(p.stem for p in chosen)}")
        chosen = [p for p in chosen if p.stem in args.names or p.name in args.names]
    for example in chosen:
        seconds = build(example)
        print(f"{notebook_path(example).relative_to(ROOT)}: executed in {seconds:.0f} s")
    if not args.names:
        for notebook in stale():
            notebook.unlink()
            print(f"{notebook.relative_to(ROOT)}: removed (examples/{notebook.stem}.py is gone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
