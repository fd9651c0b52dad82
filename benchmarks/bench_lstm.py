"""Benchmark: scratch LSTM (teaching and fused paths) against torch.nn.LSTM.

    python benchmarks/bench_lstm.py                      # the three default configurations
    python benchmarks/bench_lstm.py --config lecture --json bench.json

Same as `scratch-lstm bench`; see scratch_lstm/bench.py for what is measured.
"""

import sys

from scratch_lstm.app.bench import main

if __name__ == "__main__":
    sys.exit(main())
