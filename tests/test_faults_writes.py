"""The write rule: a command writes only new files or its own earlier output, never its input, a
device or a FIFO (scratch_lstm/app/files.py, ``check_target``); and a run folder is told by its
content, not by the names of its files (scratch_lstm/app/runs.py).

Each test offers a command a file it must not write and checks the one line the user gets, the
exit code, and that the file is unchanged. Runs are the tiny ones of tests/test_faults.py.
"""

import json
import os
import shutil
import stat
from dataclasses import asdict
from pathlib import Path

import pytest
from test_faults import FLAGS, copy_run, one_epoch, one_error, snapshot  # noqa: F401

from scratch_lstm.app import files
from scratch_lstm.app.cli import main
from scratch_lstm.app.config import TrainConfig
from scratch_lstm.app.errors import TrainingError

# --- explore --out: a new file or an earlier page; never the input, a device, a FIFO ---------------


@pytest.mark.parametrize("target", ["best.pt", "last.pt", "config.json"])
def test_explore_never_replaces_its_input_or_a_run_file(target, one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    before = snapshot(out)
    assert main(["explore", "--checkpoint", str(out / "best.pt"), "--out", str(out / target)]) == 2
    err = one_error(capsys.readouterr().err)
    expected = "is this command's input" if target == "best.pt" else "exists and is not a page scratch-lstm wrote"
    assert expected in err
    assert snapshot(out) == before


def test_the_input_is_told_by_the_file_not_its_spelling(one_epoch, tmp_path, capsys):
    out = copy_run(one_epoch, tmp_path)
    os.link(out / "best.pt", tmp_path / "page.html")  # the checkpoint under another name
    spelled = tmp_path / "x" / ".." / "page.html"
    (tmp_path / "x").mkdir()
    before = (tmp_path / "page.html").read_bytes()
    assert main(["explore", "--checkpoint", str(out / "best.pt"), "--out", str(spelled)]) == 2
    assert "is this command's input" in one_error(capsys.readouterr().err)
    assert (tmp_path / "page.html").read_bytes() == before


def test_explore_never_replaces_a_fifo_and_a_trailing_slash_means_a_folder(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["explore", "--out", str(fifo)]) == 2
    assert "is a FIFO (named pipe), not a regular file: it is never written" in one_error(capsys.readouterr().err)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert main(["explore", "--out", f"{tmp_path / 'newdir'}/"]) == 2
    assert "names a folder; give a file name" in one_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no file named newdir


def test_explore_replaces_its_own_earlier_page(one_epoch, tmp_path, capsys):
    page = tmp_path / "page.html"
    for _ in range(2):
        assert main(["explore", "--checkpoint", str(one_epoch / "best.pt"), "--out", str(page)]) == 0
    assert files.is_our_page(page)
    page.write_text("<html>my own page</html>")
    assert main(["explore", "--checkpoint", str(one_epoch / "best.pt"), "--out", str(page)]) == 2
    assert "exists and is not a page scratch-lstm wrote; it is left alone" in capsys.readouterr().err
    assert page.read_text() == "<html>my own page</html>"


def test_the_shared_write_never_renames_over_what_is_not_a_regular_file(tmp_path):
    fifo, folder = tmp_path / "pipe", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    for path in (fifo, folder, tmp_path / "link"):
        with pytest.raises(files.WriteError, match="not a regular file"):
            files.save_json(path, {"a": 1})
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir() and (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "link", "pipe"]  # no temporary file left


def test_a_legal_long_name_is_written_though_its_temporary_name_would_be_too_long(tmp_path):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = tmp_path / ("n" * (limit - 5) + ".json")  # legal; with the temporary name's 25 more, not
    files.save_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# --- gates and gradient-flow: their own files in --out, never a user's of the same name --------------

@pytest.mark.parametrize("name", ["gates.json", "gates_trained.png"])
def test_gates_never_replaces_a_users_file_of_its_names(name, one_epoch, tmp_path, capsys):
    out = tmp_path / "notes"
    assert main(["gates", "--checkpoint", str(one_epoch / "best.pt"), "--out", str(out)]) == 0
    assert main(["gates", "--checkpoint", str(one_epoch / "best.pt"), "--out", str(out)]) == 0  # its own
    (out / name).write_bytes(b"a user's file")
    assert main(["gates", "--checkpoint", str(one_epoch / "best.pt"), "--out", str(out)]) == 2
    assert f"{out / name} exists and is not a {name} that scratch-lstm gates wrote" in one_error(
        capsys.readouterr().err)
    assert (out / name).read_bytes() == b"a user's file"


def test_gradient_flow_never_replaces_a_users_file_of_its_names(tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "gradient_flow.json").write_text('{"mine": 1}\n')
    flags = ["gradient-flow", "--hidden-size", "4", "--batch-size", "2", "--out", str(out)]
    assert main(flags) == 2
    assert "is not a gradient_flow.json that scratch-lstm gradient-flow wrote" in one_error(capsys.readouterr().err)
    assert snapshot(out) == {"gradient_flow.json": b'{"mine": 1}\n'}
    (out / "gradient_flow.json").unlink()
    assert main(flags) == 0 and main(flags) == 0  # new, then its own


# --- a run folder is told by its content --------------------------------------------------------

def users_project(out: Path) -> dict:
    out.mkdir()
    (out / "config.json").write_text('{"name": "my web app", "port": 8080}\n')
    (out / "app.py").write_text("print('hello')\n")
    return snapshot(out)


def users_summary(out: Path) -> dict:
    out.mkdir()
    (out / "summary.json").write_text('{"total": 3}\n')
    return snapshot(out)


def users_config_alone(out: Path) -> dict:
    out.mkdir()
    (out / "config.json").write_text('{"name": "my web app", "port": 8080}\n')
    return snapshot(out)


def a_runs_config_in_a_project(out: Path) -> dict:
    """A run's own config.json copied into a project (to keep its settings): still the project's
    folder, not a run that finished no epoch, while other files lie there."""
    out.mkdir()
    (out / "config.json").write_text(json.dumps(asdict(TrainConfig(hidden_size=8, out=str(out)))))
    (out / "app.py").write_text("print('hello')\n")
    return snapshot(out)


@pytest.mark.parametrize("make", [users_project, users_summary, users_config_alone, a_runs_config_in_a_project])
@pytest.mark.parametrize("extra", [[], ["--resume"], ["--resume", "--hidden-size", "8"]])
def test_a_users_files_named_like_a_runs_are_never_taken_for_a_run(make, extra, tmp_path, capsys):
    out = tmp_path / "proj"
    before = make(out)
    assert main(["train", *FLAGS, "--epochs", "1", "--out", str(out), *extra]) == 2
    assert "holds files that are not a run's" in one_error(capsys.readouterr().err)
    assert snapshot(out) == before


def test_a_config_json_that_lacks_settings_is_not_filled_with_defaults(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    settings = asdict(TrainConfig(hidden_size=8, out=str(out)))
    del settings["threads"], settings["dropout"]
    (out / "config.json").write_text(json.dumps(settings))
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert "it lacks the settings dropout, threads" in one_error(capsys.readouterr().err)


def test_an_unknown_setting_in_config_json_is_refused_as_in_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({**asdict(TrainConfig(out=str(out))), "momentum": 0.9}))
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert "unknown settings ['momentum']" in one_error(capsys.readouterr().err)


def test_a_last_pt_of_another_run_is_not_continued(one_epoch, tmp_path, capsys):
    other = tmp_path / "other"
    assert main(["train", *FLAGS, "--schedule", "constant", "--epochs", "1", "--seed", "7",
                 "--out", str(other)]) == 0
    out = copy_run(one_epoch, tmp_path)
    shutil.copy(other / "last.pt", out / "last.pt")
    before = snapshot(out)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--epochs", "2", "--resume"]) == 2
    err = one_error(capsys.readouterr().err)
    assert f"{out / 'last.pt'} does not belong to the run in {out}: --seed 0 in config.json, 7 in last.pt" in err
    assert snapshot(out) == before


def test_the_write_rule_refuses_before_anything_is_written(tmp_path):
    (tmp_path / "a.json").write_text("[]")
    with pytest.raises(TrainingError, match="exists and is not"):
        files.check_target(tmp_path / "a.json", files.json_with_keys("impl"))
    assert files.check_target(tmp_path / "b.json") == tmp_path / "b.json"
    with pytest.raises(TrainingError, match="already holds a.json, which is never replaced"):
        files.check_new_files(tmp_path, ["b.json", "a.json"])


# --- minor faults ----------------------------------------------------------------------------

def test_gate_variants_refuses_seeds_past_the_largest_before_anything_runs(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import gate_variants

    out = tmp_path / "gv"
    tiny = ["--tasks", "adding-100", "--cells", "rnn", "--adding-steps", "2", "--eval-every", "1", "--test-size",
            "20", "--hidden-size", "4", "--batch-size", "8", "--jobs", "1"]
    assert gate_variants.main(["--out", str(out), "--seed", str(2**64 - 1), "--seeds", "2", *tiny]) == 2
    assert f"--seed {2**64 - 1} with --seeds 2 runs past the largest seed" in one_error(capsys.readouterr().err)
    assert not out.exists()


def test_a_one_layer_checkpoint_with_dropout_evaluates_without_a_warning(one_epoch, tmp_path, capsys):
    import warnings

    import torch

    from scratch_lstm.app.checkpoints import seal_checkpoint

    out = copy_run(one_epoch, tmp_path)
    ckpt = torch.load(out / "best.pt", weights_only=True)
    ckpt["model_config"]["dropout"] = ckpt["config"]["dropout"] = 0.5  # one layer: it drops nothing
    torch.save(seal_checkpoint(ckpt), out / "best.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["eval", "--checkpoint", str(out / "best.pt")]) == 0
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []


def test_a_lock_that_cannot_be_written_leaves_no_file(tmp_path, monkeypatch):
    import errno

    from scratch_lstm.app import lock as lock_module

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock_module.os, "pwrite", full_disk)
    with pytest.raises(OSError, match="No space left"):
        lock_module.lock_folder(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_threads_zero_is_one_line_not_torchs_error():
    from scratch_lstm.app.config import use_threads

    with pytest.raises(TrainingError, match="--threads must be a positive integer"):
        use_threads(0)


@pytest.mark.parametrize("digits, message", [([1.5], "digits=1.5 is not an index"),
                                             ([True], "digits=True is not an index")])
def test_explore_refuses_digits_that_are_not_indices(digits, message):
    import scratch_lstm.app.explorer as explorer
    from scratch_lstm.app.errors import DataError

    with pytest.raises(DataError, match=message):
        explorer.explore(digits=digits)


def test_explore_checks_every_field_of_a_checkpoint_dict(one_epoch):
    import torch

    import scratch_lstm.app.explorer as explorer

    ckpt = torch.load(one_epoch / "best.pt", weights_only=True)
    ckpt["config"]["seed"] = -1
    with pytest.raises(TrainingError, match="'config' holds a bad setting: --seed must be an integer"):
        explorer.explore(ckpt)


def test_a_damaged_best_pt_that_cannot_be_rebuilt_is_a_warning_on_resume(tmp_path):
    from scratch_lstm.app.resume import restore_run_folder

    (tmp_path / "best.pt").write_bytes(b"half a checkpoint")
    (tmp_path / "metrics.jsonl").write_text("")
    said = []
    restore_run_folder(tmp_path, {"epoch": 2, "best_epoch": 1}, [], said.append, write=None)
    assert len(said) == 1 and said[0].startswith(f"warning: {tmp_path / 'best.pt'} does not load (")
    assert "it is left as it is" in said[0]
    assert (tmp_path / "best.pt").read_bytes() == b"half a checkpoint"
