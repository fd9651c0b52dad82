"""Every command shown in README.md and docs/*.md works as written, from a fresh folder.

The commands are read from the pages when the test runs: every line of a ``bash`` code block
(continuation lines joined, ``&&`` split, comments dropped) and every inline code span that starts
with ``scratch-lstm``, ``python``, ``pytest`` or ``pip``. Each page gets a fresh copy of the
repository in a temporary folder, with ``data`` a link to full MNIST
(``SCRATCH_LSTM_MNIST_DIR``) and the checkpoints the pages name (``runs/exp1/best.pt``,
``runs/mnist/best.pt``, ``best.pt``) as small stand-ins trained once for the module, the same
kind of run (the embedded sample; full MNIST) with fewer steps. The pages' placeholders
(:data:`PLACEHOLDERS`) are given a value. Then each command of a block, in order:

- runs as written where that is quick: ``inspect``, ``gates``, ``explore``, a script without
  flags, ``bash ... --dry-run``, ``python -m venv``;
- else is parsed as written by its own argparse parser (``scratch-lstm``'s, or the script's,
  stopped right after parsing) and every checkpoint and data folder it names must exist: a
  mistyped flag, a flag that no longer exists or a missing file fails;
- ``pytest ARGS`` is collected with ARGS (one small file), ``pip install`` of this project checks
  the folder and extras it names (installing from the network is not tried).

An inline span is checked lightly: its script exists; a ``scratch-lstm CMD`` span alone names a
command; one with flags (a script's or the command's) is parsed as written, its files found.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scratch_lstm.app import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FULL_MNIST = os.environ.get("SCRATCH_LSTM_MNIST_DIR")
PLACEHOLDERS = {"DIR": "data", "CKPT": "runs/mnist/best.pt", "CLAMP": "f=1"}  # the pages' stand-ins -> a value
RUN = {"inspect", "gates", "explore"}  # scratch-lstm commands quick enough to run
COPIED = ("README.md", "pyproject.toml", "LICENSE", "docs", "examples", "benchmarks", "scripts",
          "reference", "scratch_lstm", "tests", ".ci")

pytestmark = pytest.mark.slow


def bash_blocks(text: str) -> list[str]:
    """The commands of the page's ``bash`` code blocks, each as one line."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(shlex.join(words[:cut]))
                words = words[cut + 1:]
    return commands


def inline_commands(text: str) -> list[str]:
    """The inline code spans (outside code blocks) that show a command."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    spans = (" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose))
    return [s for s in spans if re.match(r"(python3? \S+\.py|python -m |scratch-lstm |pytest |pip )", s + " ")]


def test_the_commands_are_found():
    """A reader that finds nothing passes vacuously: the README's own commands must be read."""
    readme = (ROOT / "README.md").read_text()
    found = bash_blocks(readme)
    assert "scratch-lstm train" in found and "pip install -e '.[test]'" in found
    assert ". .venv/bin/activate" in found  # `a && b` is two commands
    assert any(c.startswith("scratch-lstm gradient-flow") for c in inline_commands(readme))
    assert bash_blocks("```bash\nx --a \\\n  --b   # note\n```\n") == ["x --a --b"]


def test_every_variable_the_tests_read_is_documented():
    """An environment variable that turns tests on (SCRATCH_LSTM_MNIST_DIR) is named in
    docs/testing.md, where a reader of the suite looks for it."""
    read = {v for path in (ROOT / "tests").glob("*.py")
            for v in re.findall(r"environ(?:\.get\(|\[)[\"'](SCRATCH_LSTM_\w+)", path.read_text())}
    assert "SCRATCH_LSTM_MNIST_DIR" in read
    testing = (ROOT / "docs" / "testing.md").read_text()
    assert [v for v in sorted(read) if v not in testing] == []


class Parsed(BaseException):
    """Raised in place of running a script, once its parser has read the command line."""

    def __init__(self, args):
        super().__init__()
        self.args_ = args


def words_of(command: str) -> list[str]:
    return [PLACEHOLDERS.get(w, w) for w in shlex.split(command)]


def check_files(ns, command: str) -> None:
    """The checkpoints and the data folder a parsed command names exist."""
    for name in ("checkpoint", "data_dir"):
        values = getattr(ns, name, None)
        for value in values if isinstance(values, list) else [values]:
            if value is not None:
                assert Path(value).exists(), f"{command}: {name.replace('_', '-')} {value} does not exist"


def parse_script(script: Path, args: list[str], command: str, monkeypatch) -> argparse.Namespace | None:
    """Run ``script`` as ``python script args`` would, stopped once its parser has read ``args``
    (None if it has no parser: then it ran to its end)."""
    real = argparse.ArgumentParser.parse_args

    def parse_and_stop(self, argv=None, namespace=None):
        raise Parsed(real(self, argv, namespace))

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
        m.setattr(sys, "argv", [str(script), *args])
        m.syspath_prepend(str(script.parent))
        try:
            runpy.run_path(str(script), run_name="__main__")
        except Parsed as p:
            return p.args_
        except SystemExit as e:
            assert e.code in (0, None), f"{command}: exit code {e.code}"
    return None


def scratch_lstm(args: list[str], command: str, capsys) -> None:
    ns = cli._parse(args)  # the real parser: a wrong flag or value is a SystemExit here
    check_files(ns, command)
    if ns.command in RUN:
        code = cli.main(args)
        assert code == 0, f"{command}: exit code {code}: {capsys.readouterr().err}"


def run_one(command: str, folder: Path, capsys, monkeypatch) -> None:
    words = words_of(command)
    head, args = words[0], words[1:]
    if head == "scratch-lstm" or words[:3] in (["python", "-m", "scratch_lstm"], ["python3", "-m", "scratch_lstm"]):
        scratch_lstm(args if head == "scratch-lstm" else words[3:], command, capsys)
    elif words[:3] in (["python", "-m", "venv"], ["python3", "-m", "venv"]):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", *args[2:]], check=True, cwd=folder)
    elif head in (".", "source"):
        assert (folder / args[0]).is_file(), f"{command}: {args[0]} does not exist"
    elif head in ("python", "python3"):
        script = folder / args[0]
        assert script.is_file(), f"{command}: {args[0]} does not exist"
        ns = parse_script(script, args[1:], command, monkeypatch)
        if ns is not None:
            check_files(ns, command)
    elif head == "bash":
        script = folder / args[0]
        assert script.is_file(), f"{command}: {args[0]} does not exist"
        dry = args if "--dry-run" in args else [args[0], "--dry-run", *args[1:]]
        done = subprocess.run(["bash", *dry], cwd=folder, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "OUT": str(folder / "gpu-check")})
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    elif head == "pytest":
        done = subprocess.run([sys.executable, "-m", "pytest", *args, "--collect-only", "-p", "no:cacheprovider",
                               "tests/test_layout.py"], cwd=folder, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(folder)})
        assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    elif head == "pip":
        check_pip(args, folder, command)
    elif head == "torchrun":
        check_torchrun(args, command)
    else:
        pytest.fail(f"{command}: a command this test does not know how to try; teach it")


def check_torchrun(args: list[str], command: str) -> None:
    """``torchrun ... -m scratch_lstm CMD ...`` or ``torchrun ... --no-python scratch-lstm CMD ...``:
    torchrun's own flags as its parser reads them, then the command's through the real parser
    (not started: the several-process runs are tests/test_distributed.py's)."""
    from torch.distributed.run import get_args_parser

    ns = get_args_parser().parse_args(args)
    ours = (ns.module and ns.training_script == "scratch_lstm") or \
        (ns.no_python and ns.training_script == "scratch-lstm")
    assert ours, f"{command}: runs neither -m scratch_lstm nor scratch-lstm"
    check_files(cli._parse(ns.training_script_args), command)


def check_pip(args: list[str], folder: Path, command: str) -> None:
    """``pip install`` of this project: the folder holds it and the extras exist. Anything from
    an index (torch's CPU wheels) is not installed here."""
    assert args[0] == "install", command
    for spec in (a for a in args[1:] if not a.startswith("-")):
        local = re.fullmatch(r"(\.[^\[]*)(?:\[([\w,]+)\])?", spec)
        if local is None:
            continue
        pyproject = (folder / local.group(1) / "pyproject.toml").read_text()  # no tomllib on Python 3.10
        section = re.search(r"^\[project\.optional-dependencies\]\n(.*?)(?=^\[|\Z)", pyproject, re.S | re.M)
        extras = re.findall(r"^([\w-]+)\s*=", section.group(1), re.M) if section else []
        for extra in (local.group(2) or "").split(","):
            assert not extra or extra in extras, f"{command}: no extra {extra} in {extras}"


def check_inline(command: str, folder: Path, capsys, monkeypatch) -> None:
    """A span that names a script: the script exists; with flags it is a command to run, parsed as
    written by the script's own parser, its files found (a usage line with ``[...]`` is not a
    command). A ``scratch-lstm CMD`` span names the command; with flags it is parsed the same way."""
    words = words_of(command)
    if words[0] in ("python", "python3") and words[1].endswith(".py"):
        assert (folder / words[1]).is_file(), f"{command}: {words[1]} does not exist"
        if len(words) > 2 and not any(w.startswith("[") for w in words):
            ns = parse_script(folder / words[1], words[2:], command, monkeypatch)
            if ns is not None:
                check_files(ns, command)
        return
    args = words[1:] if words[0] == "scratch-lstm" else words[3:] if words[1:3] == ["-m", "scratch_lstm"] else None
    if not args:
        return
    assert args[0] in cli.build_parser().subparsers, f"{command}: no command {args[0]}"
    if len(args) > 1:
        try:
            check_files(cli._parse(args), command)
        except SystemExit as e:  # --help: 0; a mistake: argparse's usage and 2
            assert e.code == 0, f"{command}: {capsys.readouterr().err}"


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """The checkpoints the pages name, trained small: runs/exp1 on the embedded sample,
    runs/mnist on full MNIST (64 images, one epoch)."""
    folder = tmp_path_factory.mktemp("stand-ins")
    small = ["--epochs", "1", "--log-every", "0", "--threads", "1", "--batch-size", "32"]
    assert cli.main(["train", *small, "--train-subset", "64", "--hidden-size", "8", "--num-layers", "2",
                     "--out", str(folder / "runs/exp1")]) == 0
    assert cli.main(["train", *small, "--dataset", "mnist", "--data-dir", FULL_MNIST, "--train-subset", "64",
                     "--hidden-size", "8", "--num-layers", "2", "--out", str(folder / "runs/mnist")]) == 0
    return folder


def fresh_folder(base: Path, stand_ins: Path) -> Path:
    """A copy of the repository with ``data`` (full MNIST) and the stand-in runs."""
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, base / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy2(source, base / name)
    (base / "data").symlink_to(Path(FULL_MNIST).resolve(), target_is_directory=True)
    shutil.copytree(stand_ins / "runs", base / "runs")
    shutil.copy2(base / "runs/mnist/best.pt", base / "best.pt")
    return base


@pytest.mark.skipif(not FULL_MNIST, reason="set SCRATCH_LSTM_MNIST_DIR to a folder holding full MNIST")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_on_the_page_works_as_written(page, stand_ins, tmp_path, capsys, monkeypatch):
    text = page.read_text()
    commands, inline = bash_blocks(text), inline_commands(text)
    if not commands and not inline:
        pytest.skip(f"{page.name} shows no command")
    folder = fresh_folder(tmp_path, stand_ins)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for command in commands:
        run_one(command, folder, capsys, monkeypatch)
    for command in inline:
        check_inline(command, folder, capsys, monkeypatch)
