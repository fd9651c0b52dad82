"""Compile the Triton kernels that the GPU checks will launch, in parallel, before they run (CUDA only).

Triton compiles a kernel the first time a launch needs a new specialisation (tile, precision,
sizes divisible by 16 or not, ...), about a second each, one after another. On a fresh machine
that time lands inside the timed benchmark and the time-limited checks of
``benchmarks/gpu_check.sh``. This launches each variant the benchmark (``bench``, both
precisions), the tile sweep (``benchmarks/triton_tiles.py``: every tiling) and the trainer's lecture
run (batches of 128 and 96, test batches of 1,000) will use, on 2-step sequences, from several
processes at once; Triton's on-disk cache keeps the results for the later runs.

    python benchmarks/triton_warm.py [--jobs 8]
"""

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def variants() -> list[tuple]:
    """``(B, H, tiling or None for the rule's, precision, with_grad)`` of every launch to warm."""
    from scratch_lstm import triton_lstm as tr
    from scratch_lstm.app.bench import CONFIGS
    from scratch_lstm.precision import PRECISIONS

    found = []
    for precision in PRECISIONS:
        for cfg in CONFIGS.values():
            found += [(cfg.batch, cfg.hidden_size, None, precision, grad) for grad in (True, False)]
    for cfg in CONFIGS.values():  # the sweep's tilings (sizes divisible by 16: one binary each)
        for split in (False, True):
            for bb, bh in tr.TILES:
                tiling = tr.Tiling(bb, bh, 32, tr.num_warps_for(bb, bh), split)
                found += [(cfg.batch, cfg.hidden_size, tiling, "ieee", grad) for grad in (True, False)]
    found += [(96, 256, None, "ieee", True), (1000, 256, None, "ieee", False)]  # the trainer's
    return list(dict.fromkeys(found))


def warm(variant: tuple) -> float:
    """Run one variant's forward (and backward) on a 2-step sequence; returns the seconds it took."""
    from scratch_lstm import LSTM
    from scratch_lstm import triton_lstm as tr
    from scratch_lstm.precision import fp32_precision

    B, H, tiling, precision, grad = variant
    real_tiles = tr.tiles
    if tiling is not None:
        tr.tiles = lambda *_, **__: tiling
    t0 = time.perf_counter()
    try:
        with fp32_precision(precision), torch.set_grad_enabled(grad):
            # two layers, as the benchmark's: the top one's output gradient is expanded, the
            # lower one's contiguous (two specialisations of the backward)
            model = LSTM(8, H, num_layers=2, batch_first=True, device="cuda", impl="triton")
            out, (h, c) = model(torch.randn(B, 2, 8, device="cuda"))
            if grad:
                (out.sum() + h.sum() + c.sum()).backward()
        torch.cuda.synchronize()
    finally:
        tr.tiles = real_tiles
    return time.perf_counter() - t0


def main(argv=None) -> int:
    """Warm every variant with ``--jobs`` processes; prints how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8, help="processes compiling at once (default: 8)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: benchmarks/triton_warm.py compiles by launching on a CUDA GPU; none is available",
              file=sys.stderr)
        return 2
    todo = variants()
    t0 = time.perf_counter()
    import multiprocessing

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        seconds = list(pool.map(warm, todo))
    print(f"warmed {len(todo)} launch variants with {args.jobs} processes in "
          f"{time.perf_counter() - t0:.1f} s (the slowest {max(seconds):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
