"""Faults of issue 16 around the run folder: two writers, other programs' files, figures that
cannot be drawn, broken folders, Ctrl-C at any moment, writes and output that fail.

Each test forces one fault and checks the one line the user gets, the exit code, and that the
files the user had are unchanged (or, for a stopped run, that the advice in the line is true:
following it finishes the run). Runs are the tiny ones of tests/test_faults.py.
"""

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_faults import FLAGS, ROOT, assert_same_run, copy_run, one_epoch, one_error, snapshot, straight  # noqa: F401

from scratch_lstm.app import cli as cli_module
from scratch_lstm.app import files as files_module
from scratch_lstm.app import runs as runs_module
from scratch_lstm.app import train as train_module
from scratch_lstm.app.cli import main
from scratch_lstm.app.errors import TrainingError
from scratch_lstm.app.files import TEMP_MARKER, interrupts_deferred, temp_name
from scratch_lstm.app.lock import LOCK_FILE, check_not_locked, lock_folder
from scratch_lstm.app.runs import RUN_FILES

CONSTANT = [*FLAGS, "--schedule", "constant"]


def cli(args, cwd, fault=None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m scratch_lstm ARGS`` in a subprocess, with the test hook ``fault`` set."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SCRATCH_LSTM_FAULT", None)
    if fault:
        env["SCRATCH_LSTM_FAULT"] = fault
    kwargs.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "scratch_lstm", *args], text=True, timeout=300,
                          cwd=cwd, env=env, **kwargs)


def dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


# --- 1. one writer per folder ----------------------------------------------------------------

def test_the_lock_names_its_holder_and_goes_with_it(tmp_path):
    held = lock_folder(tmp_path)
    assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    for attempt in (lambda: lock_folder(tmp_path), lambda: check_not_locked(tmp_path)):
        with pytest.raises(TrainingError, match=rf"{tmp_path} is in use: scratch-lstm process {os.getpid()}"):
            attempt()
    held.release()
    held.release()  # twice is harmless
    assert list(tmp_path.iterdir()) == []
    check_not_locked(tmp_path)
    (tmp_path / LOCK_FILE).write_text("12345\n")  # left by a killed run: taken over
    lock_folder(tmp_path).release()
    assert list(tmp_path.iterdir()) == []


def test_a_second_train_or_resume_is_refused_while_a_run_writes_the_folder(tmp_path, capsys):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SCRATCH_LSTM_FAULT", None)
    first = subprocess.Popen([sys.executable, "-m", "scratch_lstm", "train", *CONSTANT, "--epochs",
                              "10000", "--out", str(out)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 240
        while not (out / "last.pt").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr
            time.sleep(0.2)
        for extra in ([], ["--resume"]):
            assert main(["train", *CONSTANT, "--seed", "7", "--epochs", "2", "--out", str(out), *extra]) == 2
            err = one_error(capsys.readouterr().err)
            assert f"{out} is in use: scratch-lstm process {first.pid} is writing to it" in err
    finally:
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 130 and "continue with" in one_error(err)
    assert json.loads((out / "config.json").read_text())["seed"] == 0  # the first run's, alone
    assert not (out / LOCK_FILE).exists()
    done = torch.load(out / "last.pt", weights_only=True)["epoch"]
    assert main(["train", "--out", str(out), "--epochs", str(done + 1), "--resume"]) == 0  # free again


def test_a_folder_written_while_a_run_prepared_is_left_alone(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real = train_module.load_dataset

    def another_writer_meanwhile(*args, **kwargs):
        out.mkdir()
        (out / "config.json").write_text('{"seed": 3}\n')
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "load_dataset", another_writer_meanwhile)
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out)]) == 2
    assert f"{out} changed while this run was starting" in one_error(capsys.readouterr().err)
    assert snapshot(out) == {"config.json": b'{"seed": 3}\n'}


# --- 2. only this program's temporary files are removed ------------------------------------------

def test_a_users_tmp_files_are_kept_and_only_ours_removed(tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    users = {".thesis.tex.tmp-99999": b"draft", f".last.pt.tmp-{dead_pid()}": b"mine too",
             f".notes{TEMP_MARKER}-1": b"x", "notes.txt": b"n"}
    for name, data in users.items():
        (out / name).write_bytes(data)
    ours = temp_name("last.pt", dead_pid())
    (out / ours).write_bytes(b"half a checkpoint")
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out)]) == 0
    assert f"removed temporary files left by a killed run: {ours}" in capsys.readouterr().out
    after = snapshot(out)
    assert {name: after[name] for name in users} == users
    assert set(after) == set(users) | set(RUN_FILES)


# --- 3. a figure never stops training ------------------------------------------------------------

@pytest.mark.parametrize("name", ["$HOME_$USER", os.fsdecode(b"run-\xff\xfe")])
def test_a_folder_name_matplotlib_cannot_draw_as_text_still_gets_its_curves(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["train", *CONSTANT, "--epochs", "1", "--out", str(out)]) == 0
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    (out / "curves.png").unlink()
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 0
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr()
    assert "warning" not in text.out and "Traceback" not in text.err


def test_plain_text_is_what_a_font_can_draw():
    from scratch_lstm.app.plots import plain_text

    assert plain_text(os.fsdecode(b"runs/a\xff$b$")) == "runs/a\ufffd$b$"


def test_a_figure_that_fails_is_a_warning_line_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("no glyph for that character")

    monkeypatch.setattr(runs_module, "plot_curves", broken)
    out = tmp_path / "run"
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 0
    text = capsys.readouterr()
    warnings = [line for line in text.out.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {out / 'curves.png'} was not drawn (ValueError: no glyph for that "
                        "character); the run goes on without it"] * 2
    assert "error" not in text.err
    assert sorted(p.name for p in out.iterdir()) == sorted(set(RUN_FILES) - {"curves.png"})
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2


# --- 6. broken folders resume from epoch 1 --------------------------------------------------------

def test_a_kill_before_config_json_is_in_place_resumes_from_epoch_1(straight, tmp_path, capsys):
    out = tmp_path / "run"
    proc = cli(["train", *FLAGS, "--epochs", "2", "--out", str(out)], tmp_path,
               fault="before-rename:config.json")
    assert proc.returncode == -9
    (left,) = [name for name in snapshot(out) if name != LOCK_FILE]
    assert left.startswith(f".config.json.{TEMP_MARKER}-")  # the folder holds no run file
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    text = capsys.readouterr().out
    assert "it held no run files: no epoch had finished, so the run starts again from epoch 1" in text
    assert_same_run(out, straight)


@pytest.mark.parametrize("content", [b"{bad json", b"[]\n"])
def test_a_broken_config_json_without_a_checkpoint_restarts_with_the_flags_given(content, straight,
                                                                                 tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_bytes(content)
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    text = capsys.readouterr().out
    assert f"note: {out / 'config.json'} is unreadable (" in text
    assert "the run starts again from epoch 1 with the flags given" in text
    assert_same_run(out, straight)


@pytest.mark.parametrize("content", [b"{bad json", b"[]\n", None])
def test_a_broken_or_deleted_config_json_beside_last_pt_is_rewritten(content, straight, tmp_path):
    out = tmp_path / "run"
    proc = cli(["train", *FLAGS, "--epochs", "2", "--out", str(out)], tmp_path, fault="after:best.pt")
    assert proc.returncode == -9
    if content is None:
        (out / "config.json").unlink()
    else:
        (out / "config.json").write_bytes(content)
    assert main(["train", "--out", str(out), "--resume"]) == 0  # the settings come from last.pt
    assert_same_run(out, straight)
    assert json.loads((out / "config.json").read_text())["hidden_size"] == 8


# --- 7. Ctrl-C at any moment: one line, exit code 130, advice that is true ------------------------

@pytest.mark.parametrize("delay", [0.4, 1.0])
def test_ctrl_c_while_the_command_starts_is_one_line(delay, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "scratch_lstm", "train", *FLAGS, "--out",
                             str(tmp_path / "run")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    time.sleep(delay)  # torch takes longer than this to import
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert one_error(err) == "error: interrupted while scratch-lstm was starting. Nothing was written"
    assert list(tmp_path.iterdir()) == []


def test_a_command_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path):
    # a background job of a script starts with SIGINT ignored; the command's own Ctrl-C below
    # (sent by the test hook once the data is loaded) then does nothing and the run finishes
    proc = cli(["train", *FLAGS, "--out", str(tmp_path / "run")], tmp_path, fault="int:loaded:data",
               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.returncode == 0, proc.stderr
    assert "interrupted" not in proc.stderr
    assert (tmp_path / "run" / "best.pt").is_file()


def test_a_program_that_imports_scratch_lstm_keeps_its_ctrl_c():
    from scratch_lstm import _startup

    assert not _startup.is_the_command()  # pytest imported the package
    _startup.quiet_interrupt_while_starting()
    _startup.restore_interrupts()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_the_data_loads_says_nothing_was_written(one_epoch, tmp_path):
    proc = cli(["train", *FLAGS, "--out", str(tmp_path / "new")], tmp_path, fault="int:loaded:data")
    assert proc.returncode == 130
    assert one_error(proc.stderr) == "error: interrupted. Nothing was written: run the command again"
    assert list(tmp_path.iterdir()) == []

    out = copy_run(one_epoch, tmp_path)
    before = snapshot(out)
    proc = cli(["train", "--out", str(out), "--epochs", "2", "--resume"], tmp_path, fault="int:loaded:data")
    assert proc.returncode == 130
    assert one_error(proc.stderr) == (f"error: interrupted. Nothing was written, {out} is as it was: "
                                      f"continue with `scratch-lstm train --out {out} --resume`")
    assert snapshot(out) == before

    proc = cli(["eval", "--checkpoint", str(out / "last.pt")], tmp_path, fault="int:loaded:data")
    assert proc.returncode == 130 and one_error(proc.stderr) == "error: interrupted. Nothing was written"


@pytest.mark.parametrize("point, advice", [
    ("int:after:config.json", "No checkpoint was written: `scratch-lstm train --out {out} --resume` "
                              "starts the run again from epoch 1"),
    ("int:during:last.pt", "{out}/last.pt keeps the last good epoch (1): continue with "
                           "`scratch-lstm train --out {out} --resume`"),
    ("int:during:metrics.jsonl#2", "{out}/last.pt keeps the last good epoch (2): continue with "
                                   "`scratch-lstm train --out {out} --resume`"),
])
def test_ctrl_c_during_a_run_or_a_write_keeps_what_it_says(point, advice, straight, tmp_path):
    out = tmp_path / "run"
    proc = cli(["train", *FLAGS, "--epochs", "2", "--out", str(out)], tmp_path, fault=point)
    assert proc.returncode == 130, proc.stderr
    assert one_error(proc.stderr) == "error: interrupted. " + advice.format(out=out)
    assert not [name for name in snapshot(out) if TEMP_MARKER in name or name == LOCK_FILE]
    if "last.pt" in snapshot(out):
        torch.load(out / "last.pt", weights_only=True)  # complete: the write was not cut off
    assert main(["train", "--out", str(out), "--resume"]) == 0  # the advice, as given
    assert_same_run(out, straight)


def test_an_error_torch_raised_for_a_ctrl_c_counts_as_one():
    from scratch_lstm.app.errors import caused_by_interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            # implicitly chained (__context__), as torch raises it: the case under test
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos")  # noqa: B904
    except RuntimeError as e:
        wrapped = e
    assert caused_by_interrupt(wrapped) and not caused_by_interrupt(RuntimeError("a shape"))


def test_a_ctrl_c_a_library_swallows_still_stops_the_next_batch():
    from scratch_lstm.app.files import forget_interrupts, on_interrupt
    from scratch_lstm.app.progress import with_progress

    try:
        try:
            on_interrupt(signal.SIGINT, None)
        except KeyboardInterrupt:
            pass  # cleared, as a library's C code may do
        with pytest.raises(KeyboardInterrupt):
            list(with_progress(range(3), "batches", bar=False, every=0))
    finally:
        forget_interrupts()
    assert list(with_progress(range(3), "batches", bar=False, every=0)) == [0, 1, 2]


def test_interrupts_wait_for_the_write_to_end():
    seen = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            seen.append("the block went on")
    assert seen == ["the block went on"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- 11. failed writes and output name what failed ----------------------------------------------

def test_a_file_too_large_names_the_write_not_the_weights(tmp_path):
    import resource

    out = tmp_path / "run"

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # config.json fits, last.pt not

    proc = cli(["train", *FLAGS, "--epochs", "2", "--out", str(out)], tmp_path, preexec_fn=small_files)
    assert proc.returncode == 2
    err = one_error(proc.stderr)
    assert err.startswith(f"error: could not write {out / 'last.pt'}: File too large; stopped.")
    assert "finite" not in err and "starts the run again from epoch 1" in err
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_a_deleted_run_folder_is_said_to_be_gone(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real, calls = train_module.train_step, []

    def delete_the_folder(*args):
        calls.append(1)
        if len(calls) == 3:  # in epoch 2
            shutil.rmtree(out)
        return real(*args)

    monkeypatch.setattr(train_module, "train_step", delete_the_folder)
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 2
    assert one_error(capsys.readouterr().err) == (
        f"error: could not write {out / 'last.pt'}: No such file or directory; stopped. The run "
        f"folder {out} no longer exists: nothing of the run is left")
    assert not out.exists()


def test_a_full_disk_while_a_resume_repairs_the_folder_names_the_file(one_epoch, tmp_path, capsys,
                                                                       monkeypatch):
    out = copy_run(one_epoch, tmp_path)
    (out / "metrics.jsonl").unlink()
    before = snapshot(out)

    def full_disk_open(path, mode="r", *args, **kwargs):
        if Path(path).name.startswith(".metrics.jsonl."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(files_module, "open", full_disk_open, raising=False)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 2
    err = one_error(capsys.readouterr().err)
    assert err.startswith(f"error: could not write {out / 'metrics.jsonl'}: No space left on device;")
    assert snapshot(out) == before  # the repair comes before config.json is rewritten


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_to_dev_full_is_named_as_the_output(tmp_path, one_epoch):
    with open("/dev/full", "w") as full:
        proc = cli(["eval", "--checkpoint", str(one_epoch / "last.pt")], tmp_path, stdout=full,
                   stderr=subprocess.PIPE, capture_output=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: cannot write to standard output (No space left on device)"


@pytest.mark.parametrize("fail_at, advice", [
    (2, "Nothing of the run was kept: run the command again"),
    (3, "No checkpoint was written: `scratch-lstm train --out {out} --resume` starts the run again "
        "from epoch 1"),
    (4, "{out}/last.pt keeps the last good epoch (1): continue with `scratch-lstm train --out {out} "
        "--resume`"),
])
def test_a_closed_output_stops_the_run_with_true_advice(fail_at, advice, straight, tmp_path, capsys,
                                                        monkeypatch):
    out = tmp_path / "run"

    class ClosedAfter(io.StringIO):  # `scratch-lstm train ... | head -N`
        lines = 0

        def write(self, text):
            ClosedAfter.lines += text.count("\n")
            if ClosedAfter.lines >= fail_at:
                raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
            return super().write(text)

    monkeypatch.setattr(sys, "stdout", ClosedAfter())
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 2
    monkeypatch.undo()
    err = one_error(capsys.readouterr().err)
    assert err == ("error: cannot write to standard output (Broken pipe); stopped. "
                   + advice.format(out=out))
    command = ["train", "--out", str(out), "--resume"] if "--resume" in advice else \
        ["train", *FLAGS, "--epochs", "2", "--out", str(out)]
    assert main(command) == 0
    assert_same_run(out, straight)


def test_a_pipe_closed_by_the_reader_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "scratch_lstm", "train", *FLAGS, "--epochs", "2",
                             "--out", str(tmp_path / "run")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert proc.stdout.readline().startswith("data: ")  # what `| head -1` reads
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=300)
    assert proc.returncode == 2
    assert one_error(err).startswith("error: cannot write to standard output (Broken pipe); stopped.")
    assert "Exception ignored" not in err


def test_cli_stdout_escapes_what_its_encoding_cannot_show():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    out = cli_module._Stdout(stream)
    name = os.fsdecode(b"r-\xff")  # a folder name that is not UTF-8
    out.write(f"run folder: {name} and é\n")
    out.flush()
    assert raw.getvalue() == b"run folder: r-\\udcff and \\xe9\n"


# --- issue 25: nothing is written outside the run folder ------------------------------------------

PLANTED = {  # command -> (its arguments, the files it writes into {out})
    "train": ([*FLAGS, "--epochs", "1", "--out", "{out}"], list(RUN_FILES)),
    "gates": (["--checkpoint", "{ckpt}", "--out", "{out}"], ["gates_trained.png", "gates.json"]),
    "gradient-flow": (["--sequence", "rows", "--hidden-size", "4", "--batch-size", "2", "--out", "{out}"],
                      ["gradient_flow.png", "gradient_flow.json"]),
    "bench": (["--config", "lecture", "--impl", "fused", "--repeats", "1", "--warmup", "0", "--json",
               "{out}/bench.json"], ["bench.json"]),
}


@pytest.mark.parametrize("command", list(PLANTED))
def test_a_link_planted_at_a_temporary_name_is_never_written_through(command, one_epoch, tmp_path,
                                                                      capsys, monkeypatch):
    from scratch_lstm.app import bench as bench_module

    monkeypatch.setitem(bench_module.CONFIGS, "lecture", bench_module.BenchConfig("lecture", 2, 3, 28, 8, 1))
    victim = tmp_path / "victim"
    victim.write_text("the user's file\n")
    out = tmp_path / "out"
    out.mkdir()
    args, names = PLANTED[command]
    for name in names:  # at the name this process's writer tries first, and its first fallback
        for tmp in (temp_name(name), temp_name(name) + ".1"):
            (out / tmp).symlink_to(victim)
    argv = [a.format(out=out, ckpt=one_epoch / "last.pt") for a in args]
    assert main([command, *argv]) == 0, capsys.readouterr().err
    assert victim.read_text() == "the user's file\n"
    for name in names:
        assert (out / name).is_file() and not (out / name).is_symlink(), name
        for tmp in (temp_name(name), temp_name(name) + ".1"):
            assert os.readlink(out / tmp) == str(victim)  # left as it was
