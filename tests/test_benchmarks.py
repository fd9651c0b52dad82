"""The benchmark and loss-curve tools run and report sane numbers (no timing is asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scratch_lstm.app.bench import BenchConfig, bench_config, format_table, saved_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from same_loss_curve import loss_curves  # noqa: E402


def test_bench_config_reports_every_figure():
    rows = [bench_config(BenchConfig("tiny", 4, 5, 3, 8, 2), impl, torch.device("cpu"),
                         repeats=2, warmup=1) for impl in ("scratch", "fused")]
    for row in rows:
        for kind in ("infer", "train"):
            assert row[f"{kind}_torch_ms"] > 0 and row[f"{kind}_ours_ms"] > 0
            assert row[f"{kind}_ratio"] > 0
        assert row["saved_ours_mb"] > 0 and row["saved_torch_mb"] > 0
    table = format_table(rows)
    assert table.splitlines()[0].startswith("config") and "fused" in table.splitlines()[-1]
    json.dumps(rows)


def test_saved_bytes_counts_distinct_storages():
    w = torch.randn(100, 100, requires_grad=True)  # 40,000 bytes
    assert saved_bytes(lambda: (w * w).sum().backward()) == 40_000


def test_bench_command_writes_json(tmp_path, monkeypatch, capsys):
    from scratch_lstm.app import bench
    from scratch_lstm.app.cli import main

    monkeypatch.setitem(bench.CONFIGS, "lecture", BenchConfig("lecture", 2, 3, 28, 8, 1))
    out = tmp_path / "bench.json"
    assert main(["bench", "--config", "lecture", "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["impl"] for r in rows] == ["scratch", "fused"]
    assert "scratch-lstm bench: torch" in capsys.readouterr().out


def test_bench_prints_each_row_as_it_finishes_and_progress_while_one_runs(monkeypatch, capsys):
    """In a log, a line every --log-every seconds while a row runs, and the row when it
    finishes; on a terminal a progress bar instead of those lines."""
    from scratch_lstm.app import bench
    from scratch_lstm.app.cli import main

    monkeypatch.setitem(bench.CONFIGS, "lecture", BenchConfig("lecture", 2, 3, 28, 8, 1))
    monkeypatch.setitem(bench.CONFIGS, "long", BenchConfig("long", 2, 5, 1, 4, 1))
    argv = ["bench", "--config", "lecture", "long", "--impl", "scratch", "--repeats", "2", "--warmup", "1",
            "--threads", "1"]
    assert main([*argv, "--log-every", "1e-9"]) == 0
    text = capsys.readouterr()
    lines = text.out.splitlines()
    assert lines[0].startswith("scratch-lstm bench: torch") and "on CPU, 1 thread;" in lines[0]
    first, second = (next(k for k, line in enumerate(lines) if line.startswith(name + " "))
                     for name in ("lecture", "long"))
    ticks = 2 * (1 + 1 + 2)  # per row: (warm-up + recording + repeats) pairs, for infer and train
    progress = [line.rsplit(" ", 2)[0] for line in lines[:first] if line.startswith("  row")]
    assert progress == [f"  row 1/2 lecture/scratch [{k}/{ticks}]" for k in range(1, ticks + 1)]
    assert lines[first - 2].startswith("config ")  # the table's head, printed with the first row
    assert [line.split(" [")[0] for line in lines[first + 1 : second]] == ["  row 2/2 long/scratch"] * ticks
    assert lines[-1].startswith("long ") and lines[first + 1].endswith(" s")  # each line: the row's seconds
    assert text.err == ""
    assert main([*argv, "--log-every", "0"]) == 0  # rows only
    assert not any(line.startswith("  row") for line in capsys.readouterr().out.splitlines())
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: a bar, no lines
    assert main([*argv, "--log-every", "1e-9"]) == 0
    text = capsys.readouterr()
    assert not any(line.startswith("  row") for line in text.out.splitlines())
    assert "row 1/2 lecture/scratch" in text.err and "row 2/2 long/scratch" in text.err


def test_backends_follow_the_same_loss_curve_in_float64():
    curves = loss_curves(steps=4, dtype=torch.float64, hidden_size=16, num_layers=2, batch_size=32)
    assert set(curves) == {"scratch", "fused", "triton", "torch"}  # triton: the interpreter is on
    for backend in ("scratch", "fused", "triton"):
        for a, b in zip(curves[backend], curves["torch"]):
            assert abs(a - b) < 1e-10
    assert curves["torch"][-1] != curves["torch"][0]  # it did train


def test_the_loss_curve_script_says_its_threads_first(capsys):
    from same_loss_curve import main

    before = torch.get_num_threads()
    assert main(["--steps", "1", "--hidden-size", "4", "--num-layers", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "CPU threads: 1 (--threads 1)"
    assert lines[-1].startswith("largest difference over 1 step (float64)")
    assert torch.get_num_threads() == before


def test_both_sides_of_a_row_run_in_its_precision_which_the_row_states(monkeypatch):
    from scratch_lstm.app import bench as bench_module
    from scratch_lstm.precision import _cudnn_precision, matmul_precision

    seen = []
    monkeypatch.setattr(bench_module, "_bench_config", lambda *a: seen.append(
        (matmul_precision(), _cudnn_precision())) or {"runs": "eager"})
    before = matmul_precision(), _cudnn_precision()
    for precision in ("tf32", "ieee"):
        row = bench_config(BenchConfig("tiny", 2, 3, 3, 4, 1), "fused", torch.device("cpu"),
                           precision=precision)
        assert row["precision"] == precision
    assert seen == [("tf32", "tf32"), ("ieee", "ieee")]  # cuBLAS (and the kernels) and cuDNN alike
    assert (matmul_precision(), _cudnn_precision()) == before


def test_a_graphed_impl_is_also_timed_eagerly_and_rows_say_which():
    from scratch_lstm.app.bench import _graph_settings

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert _graph_settings("triton", "triton", cuda) == ["triton", "none"]
    assert _graph_settings("triton", "fused", cuda) == ["triton"]
    assert _graph_settings("all", "scratch", cuda) == ["all", "none"]
    assert _graph_settings("none", "triton", cuda) == ["none"]
    assert _graph_settings("triton", "triton", cpu) == ["triton"]
    row = bench_config(BenchConfig("tiny", 2, 3, 3, 4, 1), "fused", cpu, repeats=1, warmup=0)
    assert row["runs"] == "eager" and row["precision"] == "ieee"
    lines = format_table([row, {**row, "runs": "graph", "precision": "tf32"}]).splitlines()
    assert lines[0].split()[:4] == ["config", "impl", "runs", "prec"]
    assert lines[2].split()[1:4] == ["fused", "eager", "ieee"] and lines[3].split()[2:4] == ["graph", "tf32"]


def test_bench_on_the_cpu_skips_tf32_rows_and_says_so(tmp_path, monkeypatch, capsys):
    from scratch_lstm.app import bench
    from scratch_lstm.app.cli import main

    monkeypatch.setitem(bench.CONFIGS, "lecture", BenchConfig("lecture", 2, 3, 28, 8, 1))
    out = tmp_path / "bench.json"
    assert main(["bench", "--config", "lecture", "--impl", "fused", "--precision", "ieee", "tf32",
                 "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    assert [r["precision"] for r in json.loads(out.read_text())] == ["ieee"]
    assert "TF32 rows skipped: TF32 needs a CUDA GPU" in capsys.readouterr().out


# ---- the GPU scripts without a GPU ---------------------------------------------------------

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(args, tmp_path):
    """A benchmarks/ script in a subprocess whose ``python`` is this interpreter."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    env.pop("TRITON_INTERPRET", None)
    env.pop("OUT", None)
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_gpu_check_says_how_to_run_it_and_dry_runs_within_8_minutes(tmp_path):
    from test_data import write_split

    script = (BENCHMARKS / "gpu_check.sh").read_text()
    first = script.splitlines()[1]
    assert first.startswith("# How to run:") and "bash benchmarks/gpu_check.sh" in first
    assert "shared" not in script.replace("shared memory", "")  # no path only this machine has
    write_split(tmp_path / "data" / "MNIST" / "raw", n_train=60, n_test=20)
    out = tmp_path / "out"
    proc = run_script(["bash", str(BENCHMARKS / "gpu_check.sh"), "--dry-run", str(tmp_path / "data"),
                       str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = (out / "steps.txt").read_text().splitlines()
    assert steps[0].startswith("preflight: ok")
    names = [line.split(":")[0] for line in steps[1:]]
    assert names == ["machine", "warm", "tests", "bench", "tiles", "train-triton", "train-torch"]
    limits = [int(line.split("limit ")[1].split(" s")[0]) for line in steps[1:]]
    assert 60 + sum(limits) <= 480 - 10  # the preflight's 60 s, the steps, the summary's 10: 8 minutes
    assert (out / "summary.txt").exists() and "would run: bench" in (out / "log.txt").read_text()


@pytest.mark.parametrize("data", ["missing", "present"])
def test_gpu_check_without_a_gpu_or_data_stops_at_once_with_one_error(data, tmp_path):
    from test_data import write_split

    if data == "present":
        write_split(tmp_path / "data", n_train=60, n_test=20)
    out = tmp_path / "out"
    proc = run_script(["bash", str(BENCHMARKS / "gpu_check.sh"), *([] if data == "present" else ["--dry-run"]),
                       str(tmp_path / "data"), str(out)], tmp_path)
    assert proc.returncode == 2
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert ("no CUDA GPU here" if data == "present" else "mnist not found") in errors[0]
    assert (out / "steps.txt").read_text().startswith("preflight: failed (exit 2): nothing else was run")
    assert (out / "summary.txt").exists()


@pytest.mark.parametrize("script", ["triton_tiles.py", "triton_warm.py"])
def test_the_gpu_only_scripts_say_so_in_one_line(script, tmp_path):
    proc = run_script([sys.executable, str(BENCHMARKS / script)], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "CUDA GPU" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_activations_benchmark_times_tanh_sigmoid_and_their_identity(capsys):
    """benchmarks/activations.py: the figure fused.py quotes (tanh against σ) comes from here."""
    import activations

    times = activations.measure(rows=8, cols=16, number=3, repeats=2)
    assert set(times) == {"tanh", "sigmoid", "2σ(2z) - 1"} and all(t > 0 for t in times.values())
    assert activations.main(["--rows", "4", "--cols", "8", "--number", "2", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("(4, 8) float32 on ") and "1 thread," in out and "x the sigmoid" in out
    with pytest.raises(SystemExit):
        activations.main(["--repeats", "0"])
    assert "--repeats must be at least 1, got 0" in capsys.readouterr().err


def test_cpu_name_names_the_processor_the_benchmarks_ran_on():
    from scratch_lstm.app.limits import cpu_name

    name = cpu_name()
    assert isinstance(name, str) and name.strip() == name and name
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and "model name" in cpuinfo.read_text():
        assert f": {name}" in cpuinfo.read_text()
