"""Time every tiling of the Triton step kernels on the benchmark configurations (CUDA only).

``scratch_lstm.triton_lstm.tiles`` picks a tiling by a rule (the largest tile that still gives
every multiprocessor a program, each tile split over four programs where no tile does); this
measures the alternatives (every tile of ``TILES``, split and not), so the rule can be checked or
replaced by measurement. Each call replays from a CUDA graph, as the trainer runs them; the table
gives the median forward (no grad) and training step (forward + backward) of one LSTM layer stack
per tiling, in the chosen precision (cuBLAS, cuDNN and the kernels alike), and marks the tiling the
rule picks. With ``--json`` each row is written as soon as it is measured.

    python benchmarks/triton_tiles.py [--config lecture long batch1024] [--precision ieee tf32]
                                      [--repeats 20] [--json FILE]
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from scratch_lstm import LSTM  # noqa: E402
from scratch_lstm import triton_lstm as tr  # noqa: E402
from scratch_lstm.app.bench import CONFIGS  # noqa: E402
from scratch_lstm.app.cuda_graphs import CUDAGraphStep  # noqa: E402
from scratch_lstm.precision import PRECISIONS, fp32_precision  # noqa: E402


def tilings() -> list:
    """Every tiling the kernels can run: each tile of ``TILES``, whole and split in four."""
    return [tr.Tiling(bb, bh, 32, tr.num_warps_for(bb, bh), split)
            for split in (False, True) for bb, bh in tr.TILES]


def time_tiling(cfg, tiling, repeats: int) -> dict:
    """Median ms of inference and of a training step with the kernels forced to ``tiling``."""
    real_tiles = tr.tiles
    tr.tiles = lambda B, H, device=None: tiling
    try:
        torch.manual_seed(0)
        model = LSTM(cfg.input_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                     device="cuda", impl="triton")
        x = torch.randn(cfg.batch, cfg.seq_len, cfg.input_size, device="cuda")

        def infer(_):
            with torch.no_grad():
                return model(x)[0]

        def train(_):
            model.zero_grad(set_to_none=True)
            out, (h, c) = model(x)
            (out.sum() + h.sum() + c.sum()).backward()
            return out.detach()

        row = {"config": cfg.name, "block_b": tiling.block_b, "block_h": tiling.block_h,
               "split": tiling.split, "num_warps": tiling.num_warps,
               "programs": tr.programs(cfg.batch, cfg.hidden_size, tiling.block_b, tiling.block_h,
                                       tiling.split)}
        for name, fn in (("infer", infer), ("train", train)):
            step = CUDAGraphStep(fn, warmup=2)
            for _ in range(3):
                step(x[:0])
            times = []
            for _ in range(repeats):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                step(x[:0])
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            row[f"{name}_ms"] = statistics.median(times)
        return row
    finally:
        tr.tiles = real_tiles


def main(argv=None) -> int:
    """Time every tiling on each chosen configuration and precision and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS),
                        help="configurations to time (default: all)")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["ieee"],
                        help="float32 precision of the products (default: ieee)")
    parser.add_argument("--repeats", type=int, default=20, help="timed replays per tiling (default: 20)")
    parser.add_argument("--json", metavar="FILE", help="write the rows there, after each one")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: benchmarks/triton_tiles.py times kernels on a CUDA GPU; none is available",
              file=sys.stderr)
        return 2
    print(f"{torch.cuda.get_device_name()}; triton LSTM, fp32, CUDA graph replays, median of {args.repeats}")
    print(f"{'config':<10} {'prec':<4} {'tile BxH':>8} {'split':>5} {'progs':>5} {'infer ms':>9} "
          f"{'train ms':>9}  rule", flush=True)
    rows = []
    for precision in args.precision:
        with fp32_precision(precision):
            for name in args.config:
                cfg = CONFIGS[name]
                picked = tr.tiles(cfg.batch, cfg.hidden_size, torch.device("cuda"))
                for tiling in tilings():
                    row = {**time_tiling(cfg, tiling, args.repeats), "precision": precision,
                           "rule_picks": tiling == picked}
                    rows.append(row)
                    print(f"{name:<10} {precision:<4} {tiling.block_b:>4}x{tiling.block_h:<3} "
                          f"{'yes' if tiling.split else 'no':>5} {row['programs']:>5} "
                          f"{row['infer_ms']:>9.3f} {row['train_ms']:>9.3f}  "
                          f"{'<- rule' if row['rule_picks'] else ''}", flush=True)
                    if args.json:
                        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
