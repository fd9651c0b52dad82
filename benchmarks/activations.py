"""Benchmark: torch's tanh against its sigmoid, and tanh written as 2σ(2z) - 1, on one block.

The fused path (scratch_lstm/fused.py) computes g_t = tanh(z_g) and tanh(c_t) through the sigmoid,
tanh(z) = 2σ(2z) - 1, because on the CPU torch's tanh costs more than its sigmoid. This prints
what each costs here, on a block of the shape the fused path works on per step, in place as the
fused path runs them (float32, the median of --repeats timings of --number calls each).

    python benchmarks/activations.py --threads 1                   # (128, 128): B 128, H 128
    python benchmarks/activations.py --threads 1 --rows 128 --cols 1024
"""

import argparse
import os
import statistics
import time
from datetime import date

import torch

from scratch_lstm.app.limits import cpu_name
from scratch_lstm.app.progress import plural


def time_call(fn, number: int, repeats: int) -> float:
    """The median over ``repeats`` of the mean time of one call of ``fn`` in ``number``, in µs."""
    fn()  # warm up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def measure(rows: int, cols: int, number: int, repeats: int, seed: int = 0) -> dict[str, float]:
    """µs per call of tanh, sigmoid and 2σ(2z) - 1 on a ``(rows, cols)`` float32 block."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(rows, cols, generator=gen)
    out = torch.empty_like(z)
    times = {
        "tanh": time_call(lambda: torch.tanh(z, out=out), number, repeats),
        "sigmoid": time_call(lambda: torch.sigmoid(z, out=out), number, repeats),
        "2σ(2z) - 1": time_call(lambda: torch.mul(z, 2, out=out).sigmoid_().mul_(2).sub_(1), number, repeats),
    }
    torch.testing.assert_close(torch.mul(z, 2).sigmoid_().mul_(2).sub_(1), torch.tanh(z), rtol=0, atol=1e-6)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=128, help="rows of the block (the batch B; default 128)")
    parser.add_argument("--cols", type=int, default=128, help="columns of the block (H, or 4H; default 128)")
    parser.add_argument("--number", type=int, default=2000, help="calls per timing (default 2000)")
    parser.add_argument("--repeats", type=int, default=7, help="timings, of which the median is shown (default 7)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's CPU threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    for name in ("rows", "cols", "number", "repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1, got {value}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    times = measure(args.rows, args.cols, args.number, args.repeats)
    print(f"({args.rows}, {args.cols}) float32 on {cpu_name()} ({os.cpu_count()} cores), "
          f"{plural(torch.get_num_threads(), 'thread')}, torch {torch.__version__}, {date.today()}:")
    for name, us in times.items():
        print(f"  {name:<11} {us:8.2f} µs   {us / times['sigmoid']:.2f}x the sigmoid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
