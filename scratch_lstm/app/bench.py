"""Benchmark the scratch LSTM against ``torch.nn.LSTM`` with identical weights.

For each configuration and each of this project's implementations (``scratch``: the teaching
path; ``fused``: the fast path; ``triton``: the GPU kernels), times inference (``torch.no_grad``
forward) and a training step (forward + backward), interleaving the two modules so both see the
same machine state, and reports medians, the median of per-pair ratios (ours / torch), samples
per second, the bytes autograd saves for backward, and on CUDA the peak memory of a training step.

On CUDA the ``triton`` rows replay each call from a CUDA graph (:mod:`scratch_lstm.app.cuda_graphs`),
as the trainer runs them; ``--cuda-graph all`` graphs every module, ``nn.LSTM`` included, and
``none`` runs everything eagerly.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..convert import from_torch
from ..impls import IMPLS
from .config import check_backend_device, resolve_device
from .cuda_graphs import CUDAGraphStep
from .errors import Interrupted, TrainingError
from .files import atomic_write_bytes
from .flags import non_negative_int, path, positive_int, threads


@dataclass
class BenchConfig:
    """One benchmark shape (batch_first input ``(batch, seq_len, input_size)``)."""

    name: str
    batch: int
    seq_len: int
    input_size: int
    hidden_size: int
    num_layers: int


CONFIGS = {
    "seed": BenchConfig("seed", 128, 28, 28, 256, 2),
    "long": BenchConfig("long", 128, 784, 1, 128, 1),
    "batch1024": BenchConfig("batch1024", 1024, 28, 28, 256, 2),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device) -> float:
    """Seconds for one call; CUDA events on the GPU, perf_counter on the CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn`` runs."""
    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def _caller(fn, module, graphed: bool, x, warmup: int):
    """A no-argument call of ``fn(module)``, replayed from a CUDA graph when ``graphed``."""
    if not graphed:
        return lambda: fn(module)
    step = CUDAGraphStep(lambda _: fn(module), warmup=warmup)  # fn reads the same x every call
    return lambda: step(x[:0])  # an empty view of x keys the graph on its device


def bench_config(cfg: BenchConfig, impl: str, device, dtype=torch.float32, repeats: int = 10,
                 warmup: int = 2, cuda_graph: str = "triton", tick=lambda: None) -> dict:
    """Time ``impl`` against nn.LSTM on one configuration; returns one result row.

    ``cuda_graph`` (``"triton"``, ``"all"`` or ``"none"``) says whose calls replay from a CUDA
    graph on a GPU; the row records it. ``tick()`` is called after each warm-up or timed pair of
    calls (``2 * (warmup + 1 + repeats)`` times in all), for a progress bar.
    """
    torch.manual_seed(0)
    ref = nn.LSTM(cfg.input_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                  device=device, dtype=dtype)
    ours = from_torch(ref, impl=impl)
    x = torch.randn(cfg.batch, cfg.seq_len, cfg.input_size, device=device, dtype=dtype)

    def infer(m):
        with torch.no_grad():
            m(x)

    def train_step(m):
        m.zero_grad(set_to_none=True)
        out, (h, c) = m(x)
        (out.sum() + h.sum() + c.sum()).backward()

    graphed = {"torch": cuda_graph == "all" and device.type == "cuda",
               "ours": cuda_graph in ("all", impl) and device.type == "cuda"}
    row = {**asdict(cfg), "impl": impl, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
           "cuda_graph_torch": graphed["torch"], "cuda_graph_ours": graphed["ours"]}
    for kind, fn in (("infer", infer), ("train", train_step)):
        calls = {"torch": _caller(fn, ref, graphed["torch"], x, warmup),
                 "ours": _caller(fn, ours, graphed["ours"], x, warmup)}
        for _ in range(warmup + 1):  # + 1: a graphed call records on its first call after warm-up
            calls["torch"](), calls["ours"]()
            tick()
        t_ref, t_ours = [], []
        for r in range(repeats):  # interleave, alternating who goes first
            pair = (("torch", t_ref), ("ours", t_ours)) if r % 2 == 0 else (("ours", t_ours), ("torch", t_ref))
            for name, sink in pair:
                _sync(device)
                sink.append(_time(calls[name], device))
            tick()
        row[f"{kind}_torch_ms"] = 1000 * statistics.median(t_ref)
        row[f"{kind}_ours_ms"] = 1000 * statistics.median(t_ours)
        row[f"{kind}_ratio"] = statistics.median(o / t for o, t in zip(t_ours, t_ref))
        row[f"{kind}_ours_samples_per_s"] = cfg.batch / statistics.median(t_ours)
    row["saved_torch_mb"] = saved_bytes(lambda: train_step(ref)) / 2**20
    row["saved_ours_mb"] = saved_bytes(lambda: train_step(ours)) / 2**20
    if device.type == "cuda":
        for name, m in (("torch", ref), ("ours", ours)):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            train_step(m)
            _sync(device)
            row[f"peak_{name}_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return row


def format_table(rows: list[dict]) -> str:
    """A plain-text table of benchmark rows."""
    cuda = any("peak_ours_mb" in r for r in rows)
    head = (f"{'config':<10} {'impl':<7} {'B':>5} {'T':>4} {'H':>4} {'K':>2} | "
            f"{'infer ms (ours/torch)':>22} {'ratio':>6} | {'train ms (ours/torch)':>22} {'ratio':>6} | "
            f"{'train samples/s':>15} | {'saved MB (ours/torch)':>21}" + (" | peak MB (ours/torch)" if cuda else ""))
    lines = [head, "-" * len(head)]
    for r in rows:
        line = (f"{r['name']:<10} {r['impl']:<7} {r['batch']:>5} {r['seq_len']:>4} {r['hidden_size']:>4} "
                f"{r['num_layers']:>2} | {r['infer_ours_ms']:>10.2f} / {r['infer_torch_ms']:>9.2f} "
                f"{r['infer_ratio']:>6.2f} | {r['train_ours_ms']:>10.2f} / {r['train_torch_ms']:>9.2f} "
                f"{r['train_ratio']:>6.2f} | {r['train_ours_samples_per_s']:>15.0f} | "
                f"{r['saved_ours_mb']:>9.1f} / {r['saved_torch_mb']:>9.1f}")
        if cuda:
            line += f" | {r['peak_ours_mb']:>8.1f} / {r['peak_torch_mb']:>8.1f}"
        lines.append(line)
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's flags (shared by ``scratch-lstm bench`` and ``benchmarks/bench_lstm.py``)."""
    shapes = "; ".join(f"{c.name}: B {c.batch}, T {c.seq_len}, I {c.input_size}, H {c.hidden_size}, "
                       f"{c.num_layers} layer(s)" for c in CONFIGS.values())
    p.add_argument("--config", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS),
                   help=f"configurations to run ({shapes})")
    p.add_argument("--impl", nargs="+", choices=IMPLS,
                   default=[impl for impl in IMPLS if impl != "triton"],
                   help="implementations to time against nn.LSTM (triton: CUDA only, or in "
                        "Triton's slow CPU interpreter with TRITON_INTERPRET=1)")
    p.add_argument("--cuda-graph", choices=("triton", "all", "none"), default="triton",
                   help="on CUDA, whose calls replay from a CUDA graph: the triton rows, as the "
                        "trainer runs them; all (nn.LSTM too); or none")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: cuda if available, else cpu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="dtype of weights and input")
    p.add_argument("--repeats", type=positive_int, default=10,
                   help="timed calls of each module; the median is reported")
    p.add_argument("--warmup", type=non_negative_int, default=2, help="untimed calls of each module first")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA (both modules)")
    p.add_argument("--threads", type=threads, default=None, metavar="N",
                   help="torch.set_num_threads on the CPU, at most the CPUs this machine has "
                        "(default: torch's choice)")
    p.add_argument("--json", metavar="FILE", type=path,
                   help="also write the rows as JSON (a new file, or one an earlier bench wrote)")


def check_json_target(target: str) -> None:
    """Refuse, before anything runs, a ``--json`` that could not be written or would replace
    another file: a folder, a missing or unwritable folder, or an existing file that is not an
    earlier benchmark's rows (a run's summary.json, say)."""
    file = Path(target)
    folder = file.resolve().parent
    if file.is_dir():
        raise TrainingError(f"--json {target} is a folder; give a file name, e.g. {file / 'bench.json'}")
    if not folder.is_dir():
        raise TrainingError(f"--json {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrainingError(f"--json {target}: cannot write in {folder} (permission denied)")
    if file.exists():
        try:
            rows = json.loads(file.read_text())
            ours = isinstance(rows, list) and all(isinstance(r, dict) and "impl" in r and
                                                  "train_ratio" in r for r in rows)
        except (OSError, ValueError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise TrainingError(f"--json {target} exists and is not an earlier benchmark's rows; it "
                                "is left alone: choose another file")


def run(args) -> list[dict]:
    """Run the benchmark for parsed ``args``; prints the table and returns the rows.

    A ``--device cuda`` that is absent, or a ``--json`` that cannot be written or would replace
    another file (:func:`check_json_target`), is a ``TrainingError`` before anything runs; the
    JSON is written atomically. On a terminal a progress bar shows each row's timing.
    """
    threads = torch.get_num_threads()
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args) -> list[dict]:
    from tqdm import tqdm

    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = resolve_device(args.device)
    if "triton" in args.impl:
        check_backend_device("triton", device, flag="--impl")
    if args.json:
        check_json_target(args.json)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {torch.get_num_threads()} threads")
    print(f"scratch-lstm bench: torch {torch.__version__} on {where}; dtype {args.dtype}"
          + (f"; TF32 {'on' if args.tf32 else 'off'}" if device.type == "cuda" else "")
          + f"; median of {args.repeats} interleaved repeats"
          + (f"; CUDA graphs: {args.cuda_graph}" if device.type == "cuda" else ""), flush=True)
    rows = []
    for name in args.config:
        for impl in args.impl:
            with tqdm(total=2 * (args.warmup + 1 + args.repeats), desc=f"{name}/{impl}", leave=False,
                      disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
                rows.append(bench_config(CONFIGS[name], impl, device, getattr(torch, args.dtype),
                                         args.repeats, args.warmup, args.cuda_graph, tick=bar.update))
            rows[-1]["where"] = where
            rows[-1]["tf32"] = bool(args.tf32)
            print(format_table(rows[-1:]).splitlines()[-1] if len(rows) > 1 else format_table(rows),
                  flush=True)
    if args.json:
        text = json.dumps(rows, indent=2) + "\n"
        try:
            atomic_write_bytes(Path(args.json), lambda fh: fh.write(text.encode()))
        except KeyboardInterrupt:  # held back until the file was in place
            raise Interrupted(f"interrupted. {args.json} was written, with every row") from None
    return rows


def main(argv=None) -> int:
    """Entry point of ``benchmarks/bench_lstm.py``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(parser)
    try:
        run(parser.parse_args(argv))
    except (TrainingError, Interrupted) as e:
        print(f"error: {e}", file=sys.stderr)
        return 130 if isinstance(e, Interrupted) else 2
    return 0
