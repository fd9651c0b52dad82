"""Argument errors answered before torch loads (scratch_lstm._startup.answer_argument_errors):
the same lines and exit code as the command's parser, and never a refusal of an argv it accepts.

Expected answers come from the command's own parser, in this process
(:func:`scratch_lstm.app.cli.main`); the start-up's come from ``python -m scratch_lstm`` in a
subprocess whose ``torch`` cannot be imported, so that an answer after the imports shows as
"torch was imported". tests/test_cli.py holds scratch_lstm/app/argv.json equal to the parser.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch_lstm import _startup
from scratch_lstm.app import flags
from scratch_lstm.app.cli import _parse, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = "100"  # the width argparse wraps the usage to, in both processes

BAD = [  # one of each kind of error, and at least one for every command
    [],  # no command
    ["trian"],  # an unknown command
    ["--bogus"],
    ["train", "--epoch", "3"],  # a mistyped flag: its usage and a close match
    ["train", "--hidden-siz=8"],  # no abbreviations
    ["train", "--epochs", "3", "--lr", "1e-3", "--forget-bias", "-1", "--bogus"],  # after plain values
    ["train", "--hidden-size"],  # a flag without its value
    ["train", "--dataset", "foo"],  # an invalid choice
    ["train", "--download=yes"],
    ["train", "extra", "words"],
    ["eval"],  # a required flag missing
    ["eval", "--checkpoint", "x.pt", "--clamp", "f=0", "--clamp"],
    ["eval", "--checkpoint", "x.pt", "--backend", "cuda"],
    ["inspect", "--hidden-size", "8", "--seq-len"],
    ["inspect", "--init", "chrono-ish"],
    ["inspect", "--batchsize", "2"],
    ["bench", "--impl", "foo"],
    ["bench", "--config"],
    ["gates", "--checkpoint", "x.pt"],
    ["gates", "--out", "d", "--index", "3"],
    ["gradient-flow", "--init", "default", "bogus"],
    ["gradient-flow", "--checkpoint"],
    ["explore"],
    ["explore", "--out", "p.html", "--digits", "1", "2", "--colour", "red"],
]
UNSURE = [  # errors the start-up leaves to the parser: a value that only its type can judge first
    ["train", "--epochs", "abc", "--bogus"],
    ["train", "--threads", "64", "--bogus"],
    ["eval", "--checkpoint", "x.pt", "--clamp", "f=0:3", "--nope"],
    ["train", "-h", "--bogus"],
]
VALID = [  # argvs the parser accepts: never refused before torch loads
    ["train", "--init", "forget-bias", "--forget-bias", "-1", "--lr", "3e-3", "--epochs", "3"],
    ["train", "--forget-bias=-1e30", "--chrono-t-max", "-5"],  # the types refuse these, after torch
    ["eval", "--checkpoint", "x.pt", "--clamp", "f=0", "--clamp=h=0@1:3,7/2-5", "--threads=1"],
    ["inspect", "--hidden-size=8", "--seq-len", "5", "--threads", "1"],
    ["bench", "--impl", "scratch", "fused", "--repeats", "1", "--json", "b.json"],
    ["gates", "--checkpoint", "a.pt", "--out", "b", "--index", "0"],
    ["gradient-flow", "--init", "default", "chrono", "--checkpoint", "a.pt", "b.pt"],
    ["explore", "--out", "p.html", "--digits", "0", "1", "--dataset", "mnist-sample"],
]


def parser_says(argv, command=main):
    """``(exit code, stderr)`` of the command's own parser for ``argv``, in this process: the
    whole command (``main``, for argvs it refuses) or its parsing alone (``_parse``)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            command(argv)
            code = 0
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


def start_up_says(argv, tmp_path):
    """``python -m scratch_lstm ARGV`` where importing torch fails."""
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True, exist_ok=True)
    (fake / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{fake.parent}{os.pathsep}{ROOT}",
           "COLUMNS": COLUMNS}
    return subprocess.run([sys.executable, "-m", "scratch_lstm", *argv], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)


def written():
    with open(Path(_startup.__file__).parent / _startup.ARGV_FILE, encoding="utf-8") as f:
        return json.load(f)


def this_python(description):
    if description["python"] != "{}.{}".format(*sys.version_info[:2]):
        pytest.skip(f"written with Python {description['python']}: this Python's users get the parser's answer")


@pytest.mark.parametrize("type_, pattern", flags.PLAIN_VALUES.items(), ids=lambda x: getattr(x, "__name__", ""))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_plain_value_is_accepted_by_its_type(type_, pattern, data):
    """What the start-up lets pass as a value its type always accepts, the type accepts."""
    type_(data.draw(st.from_regex(pattern, fullmatch=True)))


def test_argument_errors_are_answered_before_torch_as_the_parser_answers(tmp_path, monkeypatch):
    this_python(written())
    monkeypatch.setenv("COLUMNS", COLUMNS)
    for argv in BAD:
        expected = parser_says(argv)
        assert expected[0] == 2 and "error:" in expected[1], argv
        done = start_up_says(argv, tmp_path)
        assert (done.returncode, done.stderr) == expected, argv  # "torch was imported": answered late
        assert done.stdout == ""


def test_values_only_their_type_can_judge_are_left_to_the_parser(tmp_path):
    this_python(written())
    for argv in UNSURE + VALID:
        done = start_up_says(argv, tmp_path)
        assert "torch was imported" in done.stderr, (argv, done.stderr)


def start_up_parser():
    return _startup.argv_parser(written())


def early(parsers, argv):
    """What the start-up's copy of the parser does with ``argv``: ``(2, stderr)``, ``"accepted"``
    or ``"unsure"`` (the command's parser answers)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            _startup.parse_command_line(*parsers, argv)
        except _startup.Unsure:
            return "unsure"
        except SystemExit as e:
            return e.code, err.getvalue()
    return "accepted"


def test_valid_argvs_are_accepted_by_the_start_ups_parser():
    this_python(written())
    parsers = start_up_parser()
    for argv in VALID:
        assert early(parsers, argv) in ("accepted", "unsure"), argv
    assert early(parsers, VALID[0]) == "accepted"


def _tokens():
    parser = build_parser()
    options = sorted({s for p in parser.subparsers.values() for a in p._actions for s in a.option_strings})
    return options, [o[:-1] for o in options[::3]] + [o + "x" for o in options[::4]] + [
        "--nope", "-x", "--", "--epochs=3", "--hidden-size=abc", "--dataset=foo", "--clamp=f=0", "x.pt",
        "1", "0", "3", "-1", "-1e30", "-inf", "1e-3", "0.5", "abc", "", " ", "f=0", "h=0@1", "f=0:3",
        "mnist-sample", "scratch", "fused", "chrono", "default", "bogus", "--version", "-h"]


OPTIONS, EXTRA = _tokens()


@settings(max_examples=400, deadline=None)
@given(command=st.sampled_from([*build_parser().subparsers, "trian", "--nope", "-1"]),
       rest=st.lists(st.sampled_from(OPTIONS + EXTRA), max_size=8))
def test_the_start_up_answers_an_argv_only_as_the_parser_does(command, rest):
    """For any argv: where the start-up answers, the parser gives the same lines and exit code;
    where it accepts, the parser accepts."""
    this_python(written())
    argv = [command, *rest]
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        ours = early(start_up_parser(), argv)
        real = parser_says(argv, _parse)
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    if ours == "accepted":
        assert real[0] != 2, (argv, real)
    elif ours != "unsure":
        assert ours == real, argv


@pytest.mark.parametrize("python, answered", [("{}.{}", True), ("2.7", False)])
def test_flags_written_with_another_python_are_left_to_the_parser(python, answered, tmp_path):
    """A copy of the start-up beside an argv.json written with ``python``: where that is not this
    Python, the parser (here: the import of torch) answers."""
    this_python(written())
    package = tmp_path / "copy" / "scratch_lstm"
    (package / "app").mkdir(parents=True)
    (package / "_startup.py").write_text((ROOT / "scratch_lstm" / "_startup.py").read_text())
    (package / "__init__.py").write_text("from . import _startup  # noqa: F401\nimport torch  # noqa: F401\n")
    (package / "__main__.py").write_text("")
    description = {**written(), "python": python.format(*sys.version_info[:2])}
    (package / "app" / "argv.json").write_text(json.dumps(description))
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{fake.parent}{os.pathsep}{package.parent}"}
    done = subprocess.run([sys.executable, "-m", "scratch_lstm", "train", "--bogus"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env=env)
    assert ("torch was imported" not in done.stderr) == answered, done.stderr
    assert done.returncode == (2 if answered else 1)
