"""Benchmark the scratch LSTM against ``torch.nn.LSTM`` with identical weights.

For each configuration and each of this project's implementations (``scratch``: the teaching
path; ``fused``: the fast path; ``triton``: the GPU kernels), times inference (``torch.no_grad``
forward) and a training step (forward + backward), interleaving the two modules so both see the
same machine state, and reports medians, the median of per-pair ratios (ours / torch), samples
per second, the bytes autograd saves for backward, and on CUDA the peak memory of a training step.

On CUDA the ``triton`` rows replay each call from a CUDA graph (:mod:`scratch_lstm.app.cuda_graphs`),
as the trainer runs them, and a second row times the same impl eagerly (``runs``: ``eager``), as
``eval`` and a user's ``model(x)`` run it; ``--cuda-graph all`` graphs every module, ``nn.LSTM``
included (each graphed impl again with an eager row), and ``none`` runs everything eagerly.

Both sides compute in the same float32 precision (:func:`scratch_lstm.precision.fp32_precision`):
``--precision ieee`` (the default) sets cuBLAS and cuDNN to full fp32, ``tf32`` both to TF32
(cuDNN's own default is TF32; the kernels follow cuBLAS). Each row says which.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..convert import from_torch
from ..impls import IMPLS
from ..precision import PRECISIONS, fp32_precision
from . import command
from .config import check_backend_device, resolve_device, threads_line, use_threads
from .cuda_graphs import CUDAGraphStep
from .errors import TrainingError
from .files import atomic_write_bytes, check_target, json_with_keys, raise_if_interrupted
from .flags import accept_negative_numbers, add_threads_flag, non_negative_float, non_negative_int, path, positive_int
from .progress import Progress, plural


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
    "lecture": BenchConfig("lecture", 128, 28, 28, 256, 2),
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
                 warmup: int = 2, cuda_graph: str = "triton", tick=lambda: None,
                 precision: str = "ieee") -> dict:
    """Time ``impl`` against nn.LSTM on one configuration; returns one result row.

    ``cuda_graph`` (``"triton"``, ``"all"`` or ``"none"``) says whose calls replay from a CUDA
    graph on a GPU; the row records it (``runs``: ``graph`` or ``eager`` for ours). Both modules
    compute float32 products in ``precision`` (``"ieee"`` or ``"tf32"``, on a GPU). ``tick()`` is
    called after each warm-up or timed pair of calls (``2 * (warmup + 1 + repeats)`` times in
    all), for a progress bar.
    """
    with fp32_precision(precision):
        row = _bench_config(cfg, impl, device, dtype, repeats, warmup, cuda_graph, tick)
    return {**row, "precision": precision}


def _bench_config(cfg, impl, device, dtype, repeats, warmup, cuda_graph, tick) -> dict:
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
           "cuda_graph_torch": graphed["torch"], "cuda_graph_ours": graphed["ours"],
           "runs": "graph" if graphed["ours"] else "eager"}
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
    head = (f"{'config':<10} {'impl':<7} {'runs':<5} {'prec':<4} {'B':>5} {'T':>4} {'H':>4} {'K':>2} | "
            f"{'infer ms (ours/torch)':>22} {'ratio':>6} | {'train ms (ours/torch)':>22} {'ratio':>6} | "
            f"{'train samples/s':>15} | {'saved MB (ours/torch)':>21}" + (" | peak MB (ours/torch)" if cuda else ""))
    lines = [head, "-" * len(head)]
    for r in rows:
        line = (f"{r['name']:<10} {r['impl']:<7} {r.get('runs', 'eager'):<5} {r.get('precision', 'ieee'):<4} "
                f"{r['batch']:>5} {r['seq_len']:>4} {r['hidden_size']:>4} "
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
    p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["ieee"],
                   help="float32 products on CUDA, the same for both modules: ieee (full fp32), "
                        "tf32 (TensorFloat-32, compute capability 8.0 and later; skipped elsewhere); "
                        "one row per precision")
    add_threads_flag(p)
    p.add_argument("--log-every", type=non_negative_float, default=10.0,
                   help="seconds between progress lines while a row runs, when stderr is not a "
                        "terminal (a terminal gets a progress bar); each row is printed as it "
                        "finishes; 0: rows only")
    p.add_argument("--json", metavar="FILE", type=path,
                   help="also write the rows as JSON (a new file, or one an earlier bench wrote)")


def check_json_target(target: str) -> None:
    """Refuse, before anything runs, a ``--json`` that could not be written or would replace
    another file: a folder, a missing or unwritable folder, or an existing file that is not an
    earlier benchmark's rows (a run's summary.json, say)."""
    file = check_target(target, json_with_keys("impl", "train_ratio"), flag="--json",
                        what="an earlier benchmark's rows", example="bench.json")
    folder = file.resolve().parent
    if not folder.is_dir():
        raise TrainingError(f"--json {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrainingError(f"--json {target}: cannot write in {folder} (permission denied)")


def run(args) -> list[dict]:
    """Run the benchmark for parsed ``args``; prints the table and returns the rows.

    A ``--device cuda`` that is absent, or a ``--json`` that cannot be written or would replace
    another file (:func:`check_json_target`), is a ``TrainingError`` before anything runs; the
    JSON is written atomically. The second line says how many CPU threads torch uses, and why.
    Each row is printed as it finishes; while one runs, a progress bar on a terminal
    (:class:`~scratch_lstm.app.progress.Progress`), else a line every ``--log-every`` seconds.
    """
    threads = torch.get_num_threads()
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args) -> list[dict]:
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = resolve_device(args.device)
    if "triton" in args.impl:
        check_backend_device("triton", device, flag="--impl")
    if args.json:
        check_json_target(args.json)
    use_threads(args.threads)  # run() puts torch's count back
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {plural(torch.get_num_threads(), 'thread')}")
    precisions = list(dict.fromkeys(args.precision))
    if "tf32" in precisions and not has_tf32(device):
        print("note: TF32 rows skipped: TF32 needs a CUDA GPU of compute capability 8.0 or later"
              + ("" if device.type == "cuda" else " (the CPU computes float32 products in IEEE fp32)"))
        precisions = [p for p in precisions if p != "tf32"] or ["ieee"]
    print(f"scratch-lstm bench: torch {torch.__version__} on {where}; dtype {args.dtype}"
          + (f"; precision (both sides) {', '.join(precisions)}" if device.type == "cuda" else "")
          + f"; median of {args.repeats} interleaved repeats"
          + (f"; CUDA graphs: {args.cuda_graph} (runs: graph = replays, eager = launched from Python)"
             if device.type == "cuda" else ""))
    print(threads_line(args.threads), flush=True)
    plan = [(precision, name, impl, cuda_graph) for precision in precisions for name in args.config
            for impl in args.impl for cuda_graph in _graph_settings(args.cuda_graph, impl, device)]
    rows = []
    for n, (precision, name, impl, cuda_graph) in enumerate(plan, 1):
        started = time.perf_counter()
        with Progress(2 * (args.warmup + 1 + args.repeats), f"row {n}/{len(plan)} {name}/{impl}",
                      every=args.log_every, status=lambda t0=started: f"{time.perf_counter() - t0:.0f} s") as progress:
            rows.append(bench_config(CONFIGS[name], impl, device, getattr(torch, args.dtype), args.repeats,
                                     args.warmup, cuda_graph, precision=precision,
                                     tick=lambda: (raise_if_interrupted(), progress.tick())))
        rows[-1]["where"] = where
        print(format_table(rows[-1:]).splitlines()[-1] if len(rows) > 1 else format_table(rows), flush=True)
        if args.json:  # after every row: a run stopped midway keeps what it measured
            _write_rows(args.json, rows)
    return rows


def _graph_settings(cuda_graph: str, impl: str, device) -> list[str]:
    """The ``cuda_graph`` values to run ``impl`` with: as asked and, where that graphs ours on a
    GPU, eagerly as well (what ``eval`` and ``model(x)`` get)."""
    graphs_ours = device.type == "cuda" and cuda_graph in ("all", impl)
    return [cuda_graph, "none"] if graphs_ours else [cuda_graph]


def has_tf32(device) -> bool:
    """Whether ``device`` multiplies float32 in TF32 when asked: a CUDA GPU of compute capability 8+."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8


def _write_rows(target: str, rows: list[dict]) -> None:
    """Replace ``--json``'s file atomically with every row so far (a Ctrl-C meanwhile comes after
    the file is in place, and the command's last line names it)."""
    text = json.dumps(rows, indent=2) + "\n"
    atomic_write_bytes(Path(target), lambda fh: fh.write(text.encode()))


def main(argv=None) -> int:
    """Entry point of ``benchmarks/bench_lstm.py``: it ends as ``scratch-lstm bench`` does
    (:mod:`~scratch_lstm.app.command`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    accept_negative_numbers(parser)
    add_arguments(parser)

    def body() -> int:
        run(parser.parse_args(argv))
        return 0

    return command.finish(command.run(body))
