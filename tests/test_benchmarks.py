"""The benchmark and loss-curve tools run and report sane numbers (no timing is asserted)."""

import json
import sys
from pathlib import Path

import torch

from scratch_lstm.app.bench import BenchConfig, bench_config, format_table, saved_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
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

    monkeypatch.setitem(bench.CONFIGS, "seed", BenchConfig("seed", 2, 3, 28, 8, 1))
    out = tmp_path / "bench.json"
    assert main(["bench", "--config", "seed", "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["impl"] for r in rows] == ["scratch", "fused"]
    assert "scratch-lstm bench: torch" in capsys.readouterr().out


def test_backends_follow_the_same_loss_curve_in_float64():
    curves = loss_curves(steps=4, dtype=torch.float64, hidden_size=16, num_layers=2, batch_size=32)
    assert set(curves) == {"scratch", "fused", "triton", "torch"}  # triton: the interpreter is on
    for backend in ("scratch", "fused", "triton"):
        for a, b in zip(curves[backend], curves["torch"]):
            assert abs(a - b) < 1e-10
    assert curves["torch"][-1] != curves["torch"][0]  # it did train
