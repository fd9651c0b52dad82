"""Time every tile shape of the Triton step kernels on the benchmark configurations (CUDA only).

``scratch_lstm.triton_lstm.tiles`` picks a tile by a rule (the largest that still gives every
multiprocessor a program); this measures the alternatives, so the rule can be checked or
replaced by measurement. Each call replays from a CUDA graph, as the trainer runs it; the table
gives the median forward (no grad) and training step (forward + backward) of one LSTM layer stack
per tile, and marks the tile the rule picks.

    python benchmarks/triton_tiles.py [--config seed long batch1024] [--repeats 20] [--json FILE]
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


def time_tile(cfg, tile, repeats: int) -> dict:
    """Median ms of inference and of a training step with the kernels forced to ``tile``."""
    block_b, block_h = tile
    real_tiles = tr.tiles
    tr.tiles = lambda B, H, device=None: (block_b, block_h, 32, tr.num_warps_for(block_b, block_h))
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

        row = {"config": cfg.name, "block_b": block_b, "block_h": block_h}
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
    """Time every tile on each chosen configuration and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: benchmarks/triton_tiles.py times kernels on a CUDA GPU; none is available",
              file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"{torch.cuda.get_device_name()}; triton LSTM, fp32, CUDA graph replays, median of {args.repeats}")
    print(f"{'config':<10} {'tile BxH':>8} {'infer ms':>9} {'train ms':>9}  rule")
    rows = []
    for name in args.config:
        cfg = CONFIGS[name]
        picked = tr.tiles(cfg.batch, cfg.hidden_size, torch.device("cuda"))[:2]
        for tile in tr.TILES:
            row = time_tile(cfg, tile, args.repeats)
            row["rule_picks"] = tuple(tile) == tuple(picked)
            rows.append(row)
            print(f"{name:<10} {tile[0]:>4}x{tile[1]:<3} {row['infer_ms']:>9.3f} {row['train_ms']:>9.3f}"
                  f"  {'<- rule' if row['rule_picks'] else ''}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
