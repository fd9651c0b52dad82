#!/usr/bin/env bash
# The GPU checks of the Triton path in one run: the GPU tests, the benchmark table (scratch, fused
# and triton against cuDNN on all three configurations), the tile sweep, and 2 epochs of
# seed-configuration training with --backend triton and --backend torch, each step under its own
# time limit (360 s in all, so at most about 6 minutes on any GPU); everything goes into one folder.
#
#   bash benchmarks/gpu_check.sh [DATA_DIR] [OUT_DIR]
#
# DATA_DIR holds full MNIST (DATA_DIR/MNIST/raw/*.gz or the four files; default: data, an ignored
# folder: `mkdir -p data && cp ../shared/data/MNIST/raw/*.gz data/`). OUT_DIR defaults to $OUT (the
# device tool's return folder) or gpu-check. It writes at most 8 files there: log.txt (everything
# printed), bench.json, tiles.json, train-triton.jsonl, train-torch.jsonl, summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data}
DEST=${2:-${OUT:-gpu-check}}
mkdir -p "$DEST"
export PYTHONPATH=. PYTHONUNBUFFERED=1
LOG="$DEST/log.txt"
: > "$LOG"
section() { printf '\n===== %s (%s)\n' "$1" "$(date +%T)" | tee -a "$LOG"; }
run() { local limit=$1; shift; timeout "$limit" "$@" 2>&1 | tee -a "$LOG"; }
START=$SECONDS

section "machine"
run 15 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
run 20 python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"

section "GPU tests (cuDNN oracle, TF32 off; CUDA graph vs eager)"
run 100 python -m pytest -q -p no:cacheprovider tests/test_gpu.py

section "bench: scratch, fused, triton vs nn.LSTM (cuDNN), fp32, TF32 off"
run 100 python -m scratch_lstm bench --device cuda --impl scratch fused triton --repeats 10 --json "$DEST/bench.json"

section "tile sweep of the triton kernels"
run 35 python benchmarks/triton_tiles.py --repeats 10 --json "$DEST/tiles.json"

for backend in triton torch; do
  section "train 2 epochs, seed configuration, --backend $backend"
  RUN=$(mktemp -d)
  run 45 python -m scratch_lstm train --data-dir "$DATA" --dataset mnist --backend "$backend" \
    --device cuda --epochs 2 --log-every 0 --out "$RUN/run"
  cp "$RUN/run/metrics.jsonl" "$DEST/train-$backend.jsonl" 2>/dev/null
  rm -rf "$RUN"
done

section "summary"
python - "$DEST" <<'PY' 2>&1 | tee "$DEST/summary.txt" | tee -a "$LOG"
import json, sys
from pathlib import Path
dest = Path(sys.argv[1])
try:
    rows = json.loads((dest / "bench.json").read_text())
    print("config     impl    infer ratio  train ratio  peak MB ours/torch (ours/cuDNN; < 1 is faster)")
    for r in rows:
        print(f"{r['name']:<10} {r['impl']:<7} {r['infer_ratio']:>11.2f} {r['train_ratio']:>12.2f}  "
              f"{r.get('peak_ours_mb', float('nan')):.0f}/{r.get('peak_torch_mb', float('nan')):.0f}")
except FileNotFoundError:
    print("no bench.json")
epochs = {}
for backend in ("triton", "torch"):
    path = dest / f"train-{backend}.jsonl"
    if path.exists():
        epochs[backend] = [json.loads(line) for line in path.read_text().splitlines()]
        for m in epochs[backend]:
            print(f"train {backend}: epoch {m['epoch']} {m['seconds']:.1f} s, test acc {100 * m['test_acc']:.2f}%")
if len(epochs) == 2 and epochs["triton"] and epochs["torch"]:
    last = lambda b: epochs[b][-1]["seconds"]  # the second epoch: compilation and warm-up are over
    print(f"epoch time triton / torch (last epoch): {last('triton') / last('torch'):.2f}")
PY
echo "total: $((SECONDS - START)) s" | tee -a "$LOG"
