"""Faults around the run folder: two writers, other programs' files, figures that
cannot be drawn, broken folders, Ctrl-C at any moment, writes and output that fail.

Each test forces one fault and checks the one line the user gets, the exit code, and that the
files the user had are unchanged (or, for a stopped run, that the advice in the line is true:
following it finishes the run). Runs are the tiny ones of tests/test_faults.py.
"""

import contextlib
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from test_faults import FLAGS, ROOT, assert_same_run, copy_run, one_epoch, one_error, snapshot, straight  # noqa: F401

from scratch_lstm.app import command as command_module
from scratch_lstm.app import files as files_module
from scratch_lstm.app import runs as runs_module
from scratch_lstm.app import train as train_module
from scratch_lstm.app.cli import main
from scratch_lstm.app.config import TrainConfig
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
    settings = json.dumps(asdict(TrainConfig(seed=3))).encode()  # another run's

    def another_writer_meanwhile(*args, **kwargs):
        out.mkdir()
        (out / "config.json").write_bytes(settings)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "load_dataset", another_writer_meanwhile)
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out)]) == 2
    assert f"{out} changed while this run was starting" in one_error(capsys.readouterr().err)
    assert snapshot(out) == {"config.json": settings}


# --- 2. only this program's temporary files are removed ------------------------------------------

def test_a_users_tmp_files_are_kept_and_only_ours_removed(one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)  # a run folder where a user keeps files of their own
    users = {".thesis.tex.tmp-99999": b"draft", f".last.pt.tmp-{dead_pid()}": b"mine too",
             f".notes{TEMP_MARKER}-1": b"x", "notes.txt": b"n"}
    for name, data in users.items():
        (out / name).write_bytes(data)
    ours = temp_name("last.pt", dead_pid())
    (out / ours).write_bytes(b"half a checkpoint")
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 0
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

def wait_until_mapped(pid: int, library: str, timeout: float = 60) -> bool:
    """Wait until process ``pid`` has mapped a shared library whose name holds ``library``."""
    maps, deadline = Path(f"/proc/{pid}/maps"), time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if library in maps.read_text():
                return True
        except OSError:  # the process is gone
            return False
        time.sleep(0.001)
    return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux) to see torch's import")
@pytest.mark.parametrize("library", ["libtorch_global_deps", "libtorch_cpu"])
def test_ctrl_c_while_the_command_starts_is_one_line(library, tmp_path):
    """Ctrl-C while the command imports torch: sent as soon as torch's import has mapped ``library``
    (the first and a later one of its libraries; the import goes on for most of a second after
    either), so it lands inside the import on any machine, fast or slow."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "scratch_lstm", "train", *FLAGS, "--out",
                             str(tmp_path / "run")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert wait_until_mapped(proc.pid, library), f"{library} never loaded"
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


@pytest.mark.parametrize("fail_at, advice", [  # the output's lines: data, CPU threads, run folder, model, epoch 1
    (3, "Nothing of the run was kept: run the command again"),
    (4, "No checkpoint was written: `scratch-lstm train --out {out} --resume` starts the run again "
        "from epoch 1"),
    (5, "{out}/last.pt keeps the last good epoch (1): continue with `scratch-lstm train --out {out} "
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
    out = command_module._Stdout(stream)
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


# --- issue 25: a resume continues the run it names, from the settings it wrote, or refuses ----------

def test_a_kill_before_config_json_is_renamed_resumes_with_the_settings_it_was_writing(tmp_path, capsys):
    out = tmp_path / "run"
    proc = cli(["train", *CONSTANT, "--epochs", "1", "--hidden-size", "16", "--lr", "0.01", "--out", str(out)],
               tmp_path, fault="before-rename:config.json")
    assert proc.returncode == -9
    (left,) = [name for name in snapshot(out) if name != LOCK_FILE]  # the complete temporary copy
    assert main(["train", "--out", str(out), "--resume", "--log-every", "0"]) == 0
    assert f"the run's settings come from {left}, the complete copy it left" in capsys.readouterr().out
    saved = json.loads((out / "config.json").read_text())
    assert (saved["hidden_size"], saved["lr"], saved["epochs"]) == (16, 0.01, 1)
    assert torch.load(out / "last.pt", weights_only=True)["model_config"]["hidden_size"] == 16
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)


def settings_missing(out: Path) -> str:
    out.mkdir()
    return f"{out / 'config.json'} does not exist"


def settings_unreadable(content: bytes):
    def make(out: Path) -> str:
        out.mkdir()
        (out / "config.json").write_bytes(content)
        return f"{out / 'config.json'} is unreadable ("
    return make


def settings_cut_short(out: Path) -> str:  # a writer killed in the middle of the temporary file
    out.mkdir()
    (out / temp_name("config.json", dead_pid())).write_text('{"hidden_size": 16, "lr": ')
    return "is unreadable (Expecting value"


@pytest.mark.parametrize("make", [settings_missing, settings_unreadable(b"{bad json"),
                                  settings_unreadable(b"[]\n"), settings_cut_short],
                         ids=["missing", "bad json", "a list", "cut short"])
def test_a_bare_resume_without_the_runs_settings_is_refused(make, tmp_path, capsys):
    out = tmp_path / "run"
    problem = make(out)
    before = snapshot(out)
    assert main(["train", "--out", str(out), "--resume", "--threads", "1", "--log-every", "0"]) == 2
    err = one_error(capsys.readouterr().err)
    assert f"--resume: {out} holds no settings to continue from (" in err and problem in err
    assert "a resume would train a default model instead of the run" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("init, given, refused", [
    (["--init", "chrono"], ["--chrono-t-max", "50"], "--chrono-t-max 28 (now 50)"),
    (["--init", "forget-bias", "--forget-bias", "2"], ["--forget-bias", "3"], "--forget-bias 2.0 (now 3.0)"),
    ([], ["--lr", "0.5"], "--lr 0.001 (now 0.5)"),
])
def test_a_resume_compares_the_flags_given_with_the_runs_own(init, given, refused, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *CONSTANT, "--epochs", "1", *init, "--out", str(out)]) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume", *given]) == 2
    err = one_error(capsys.readouterr().err)
    assert f"was trained with other settings: {refused}" in err
    assert ("only --epochs, --log-every, --device, --data-dir, --download, --dataset, --cuda-graph, "
            "--threads may change") in err
    assert snapshot(out) == before
    same = [given[0], str(json.loads((out / "config.json").read_text())[given[0][2:].replace("-", "_")])]
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume", *same]) == 0


# --- issue 25: an output folder that cannot be one, or is not a run's, is refused with what it is ----

def dangling_link(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    return tmp_path / "out", f"is a symbolic link to {tmp_path / 'gone'}, which does not exist"


def read_only(tmp_path: Path, monkeypatch) -> tuple[Path, str]:
    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(runs_module.os, "access", lambda path, mode: False)  # as on a read-only mount
    monkeypatch.setattr(runs_module.os, "statvfs", lambda path: ReadOnly(), raising=False)
    return tmp_path / "out", f"cannot write in {tmp_path} (on a read-only file system)"


@pytest.mark.parametrize("command", ["train", "gates", "gradient-flow"])
@pytest.mark.parametrize("case", [dangling_link, read_only], ids=["dangling link", "read-only"])
def test_an_out_that_cannot_be_written_says_why(case, command, one_epoch, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    out, message = case(work, monkeypatch) if case is read_only else case(work)
    argv = {"train": ["train", *FLAGS, "--epochs", "1"],
            "gates": ["gates", "--checkpoint", str(one_epoch / "last.pt")],
            "gradient-flow": ["gradient-flow", "--hidden-size", "4", "--batch-size", "2"]}[command]
    before = sorted(p.name for p in work.iterdir())
    assert main([*argv, "--out", str(out)]) == 2
    assert message in one_error(capsys.readouterr().err)
    assert sorted(p.name for p in work.iterdir()) == before


@pytest.mark.parametrize("extra", [[], ["--resume"]])
def test_a_run_never_goes_among_other_files(extra, tmp_path, capsys):
    out = tmp_path / "home"
    out.mkdir()
    for name in (".bashrc", "notes.txt", "thesis", "x.py"):
        (out / name).write_text("mine")
    before = snapshot(out)
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out), *extra]) == 2
    err = one_error(capsys.readouterr().err)
    assert f"--out {out} holds files that are not a run's (.bashrc, notes.txt, thesis and 1 more)" in err
    assert snapshot(out) == before


def test_the_root_of_a_file_system_is_never_a_run_folder():
    from scratch_lstm.app.runs import check_run_folder

    with pytest.raises(TrainingError, match="--out / is the root of a file system"):
        check_run_folder(Path("/"))


def test_a_fingerprint_mismatch_suggests_only_what_was_given(one_epoch, tmp_path, capsys):
    from scratch_lstm.app.checkpoints import seal_checkpoint

    out = copy_run(one_epoch, tmp_path)  # a run of the embedded sample, resumed without data flags
    ckpt = torch.load(out / "last.pt", weights_only=True)
    ckpt["data"]["fingerprint"] = "0" * 64  # as another version's sample would have
    torch.save(seal_checkpoint(ckpt), out / "last.pt")
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 2
    err = one_error(capsys.readouterr().err)
    assert "was trained on other data" in err and "--data-dir" not in err
    assert "the sample embedded in this scratch-lstm is not the one it was trained on" in err


# --- issue 25: "Nothing was written" only when true -------------------------------------------------

def test_bench_interrupted_after_a_row_names_the_json(tmp_path, capsys, monkeypatch):
    from scratch_lstm.app import bench as bench_module

    monkeypatch.setitem(bench_module.CONFIGS, "lecture", bench_module.BenchConfig("lecture", 2, 3, 28, 8, 1))
    real, calls = bench_module.bench_config, []

    def second_is_interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench_module, "bench_config", second_is_interrupted)
    target = tmp_path / "bench.json"
    assert main(["bench", "--config", "lecture", "--impl", "scratch", "fused", "--repeats", "1",
                 "--warmup", "0", "--json", str(target)]) == 130
    assert one_error(capsys.readouterr().err) == f"error: interrupted. {target} was written (complete)"
    assert [r["impl"] for r in json.loads(target.read_text())] == ["scratch"]


def test_gradient_flow_interrupted_after_its_figure_names_it(tmp_path, capsys, monkeypatch):
    from scratch_lstm.app import flow_report

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(flow_report, "save_json", interrupted)
    out = tmp_path / "gf"
    assert main(["gradient-flow", "--hidden-size", "4", "--batch-size", "2", "--out", str(out)]) == 130
    assert one_error(capsys.readouterr().err) == (f"error: interrupted. {out / 'gradient_flow.png'} was "
                                                  "written (complete)")
    assert sorted(p.name for p in out.iterdir()) == ["gradient_flow.png"]


def test_a_second_ctrl_c_while_the_first_is_answered_changes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real = train_module.stopped

    def pressed_again(*args):  # Ctrl-C once more while the run says what it kept
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(train_module, "stopped", pressed_again)
    monkeypatch.setenv("SCRATCH_LSTM_FAULT", "int:during:last.pt")  # the first, during the write
    assert main(["train", *FLAGS, "--epochs", "2", "--out", str(out)]) == 130
    assert one_error(capsys.readouterr().err) == (
        f"error: interrupted. {out / 'last.pt'} keeps the last good epoch (1): continue with "
        f"`scratch-lstm train --out {out} --resume`")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_gradient_flow_that_cannot_write_names_the_file_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    def full_disk_open(path, mode="r", *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files_module, "open", full_disk_open, raising=False)
    out = tmp_path / "new" / "gf"
    assert main(["gradient-flow", "--hidden-size", "4", "--batch-size", "2", "--out", str(out)]) == 2
    assert one_error(capsys.readouterr().err) == (f"error: could not write {out / 'gradient_flow.png'}: "
                                                  "No space left on device. Nothing was written")
    assert list(tmp_path.iterdir()) == []


# --- issue 25: closed standard streams, and the scripts in benchmarks/ end as the command does -------

@pytest.mark.parametrize("closed, told", [(1, "stderr"), (2, "stdout")])
def test_a_closed_standard_stream_is_one_line_on_the_other_and_writes_nothing(closed, told, tmp_path):
    out = tmp_path / "run"
    proc = cli(["train", *FLAGS, "--epochs", "1", "--out", str(out)], tmp_path, capture_output=False,
               stdout=subprocess.PIPE if closed == 2 else None, stderr=subprocess.PIPE if closed == 1 else None,
               preexec_fn=lambda: os.close(closed))  # `>&-` or `2>&-`
    assert proc.returncode == 2
    name = "output" if closed == 1 else "error"
    assert one_error(getattr(proc, told)).startswith(f"error: standard {name} is closed (")
    assert "Nothing was written" in getattr(proc, told)
    assert not out.exists()


SCRIPTS = {  # script -> (arguments that run long, the line it prints once it runs)
    "bench_lstm.py": (["--config", "long", "--impl", "fused", "--repeats", "1000", "--threads", "1"],
                      "scratch-lstm bench:"),
    "long_memory.py": (["--tasks", "adding", "--adding-steps", "100000", "--threads", "1", "--out", "{tmp}/lm"],
                       "long memory:"),
}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_ctrl_c_in_a_benchmark_script_is_one_line_and_exit_code_130(script, tmp_path):
    args, started = SCRIPTS[script]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / script),
                             *[a.format(tmp=tmp_path) for a in args]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    try:
        while not proc.stdout.readline().startswith(started):
            assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert one_error(err) == "error: interrupted. Nothing was written"
    assert list(tmp_path.iterdir()) == []  # long_memory.py's --out, created empty, is gone


def long_memory_main(argv):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import long_memory
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return long_memory.main(argv)


@pytest.mark.parametrize("args, message", [
    (["--forget-bias", "1e308"], "--forget-bias: must be a finite number float32 can hold"),
    (["--steps", str(10**400)], "--steps: must be an integer from 1 to 2**53"),
    (["--hidden-size", str(10**400)], "of memory, more than this machine can hold"),
    (["--test-size", "1000000000000"], "--test-size 1000000000000 on adding (200 steps; the weights"),
    (["--device", "cuda"], "--device cuda was asked for but is not available here"),
    (["--backend", "triton", "--device", "cpu"], "--backend triton runs its kernels on a CUDA GPU, not on cpu"),
    (["--out", "{tmp}/earlier"], "already holds long_memory.json, which is never replaced"),
])
def test_the_long_memory_script_refuses_as_the_command_does(args, message, tmp_path, capsys, monkeypatch):
    if "cuda" in args or "triton" in args:
        if torch.cuda.is_available():
            pytest.skip("a CUDA GPU is here")
        monkeypatch.setenv("TRITON_INTERPRET", "0")  # the suite's own setting runs triton on the CPU
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "long_memory.json").write_text("{}\n")
    before = snapshot(tmp_path / "earlier")
    argv = ["--out", str(tmp_path / "lm"), "--tasks", "adding", *[a.format(tmp=tmp_path) for a in args]]
    try:
        code = long_memory_main(argv)
    except SystemExit as e:
        code = e.code
    assert code == 2
    assert message in one_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]
    assert snapshot(tmp_path / "earlier") == before


def test_the_command_takes_ctrl_c_before_it_imports_anything():
    # Python's own Ctrl-C handler prints a traceback until scratch_lstm._startup replaces it; that
    # module runs first and imports nothing Python has not loaded already (-X importtime lists a
    # module's imports just above it, indented deeper)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "scratch_lstm", "--help"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    names = [line.split("|")[-1] for line in proc.stderr.splitlines() if line.startswith("import time:")]
    depth = [len(name) - len(name.lstrip()) for name in names]
    at = next(k for k, name in enumerate(names) if name.strip().split(".")[0] == "scratch_lstm")
    assert names[at].strip() == "scratch_lstm._startup"  # the package's first module
    assert at == 0 or depth[at - 1] <= depth[at], names[at - 1]  # it imported nothing new


# --- the benchmark scripts: Ctrl-C while they start, and their worker processes -----------------------

@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux) to see torch's import")
@pytest.mark.parametrize("script", ["gate_variants.py", "long_memory.py"])
def test_ctrl_c_while_a_benchmark_script_starts_is_one_line(script, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / script), "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert wait_until_mapped(proc.pid, "libtorch_cpu"), "torch never loaded"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert one_error(err) == "error: interrupted while scratch-lstm was starting. Nothing was written"
    assert list(tmp_path.iterdir()) == []


GATE_VARIANTS_WORKERS = ["--jobs", "2", "--tasks", "adding-100", "--cells", "rnn", "gru", "--adding-steps",
                         "100000", "--test-size", "20", "--hidden-size", "4", "--batch-size", "8"]


def group_is_gone(pgid: int, within: float) -> bool:
    """Whether every process of the group ``pgid`` has ended (zombies aside) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
        if all(s.startswith("Z") for s in ps):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps to see the worker processes")
@pytest.mark.parametrize("signum, to_group, line, code", [
    (signal.SIGINT, True, "error: interrupted. Nothing was written", 130),  # Ctrl-C: the terminal's whole group
    (signal.SIGTERM, False, "error: terminated (SIGTERM). Nothing was written", 143),  # kill PID: the main one
])
def test_a_benchmark_with_workers_stops_them_and_says_one_line(signum, to_group, line, code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "gate_variants.py"), "--out",
                             str(tmp_path / "gv"), *GATE_VARIANTS_WORKERS], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env, start_new_session=True)
    try:
        while not proc.stdout.readline().startswith("estimate"):
            assert proc.poll() is None, proc.stderr.read()
        time.sleep(2)  # the workers are importing torch, or training
        (os.killpg if to_group else os.kill)(proc.pid, signum)
        _, err = proc.communicate(timeout=60)
        assert group_is_gone(proc.pid, within=10), "a worker kept running"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code
    assert err == line + "\n"  # no traceback, no resource_tracker line about leaked semaphores


def test_train_stopped_by_sigterm_says_so_in_one_line_and_resumes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "scratch_lstm", "train", *CONSTANT, "--epochs", "1000",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    try:
        while not proc.stdout.readline().startswith("epoch 1/"):
            assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert one_error(err).startswith("error: terminated (SIGTERM). ")
    assert f"continue with `scratch-lstm train --out {out} --resume`" in err
    assert main(["train", "--out", str(out), "--resume", "--epochs", str(load_epoch(out) + 1)]) == 0


def load_epoch(out: Path) -> int:
    return torch.load(out / "last.pt", weights_only=True)["epoch"]
