#!/usr/bin/env bash
# How to run: put full MNIST's four IDX files (.gz or not) in data/ or data/MNIST/raw/ (data/ is git-ignored: copy it along with the checkout, e.g. the device tool's carry ["data"]), then from the repository: bash benchmarks/gpu_check.sh [--dry-run] [DATA_DIR (default data)] [OUT_DIR (default $OUT, else gpu-check)]
#
# The GPU checks of the Triton path in one run of at most 8 minutes on a fresh GPU machine:
#   preflight  the Python packages, a CUDA GPU, and the data (read in full) before anything runs
#   warm       compile the kernels the later steps launch, 8 processes at once (triton_warm.py)
#   tests      tests/test_gpu.py: every impl against cuDNN in IEEE fp32 (and TF32), graphs, autocast
#   bench      scratch, fused and triton against nn.LSTM (cuDNN), both sides IEEE, then both TF32;
#              triton graphed and eager
#   tiles      the tile sweep of the triton kernels (IEEE)
#   train      2 epochs of the lecture's configuration with --backend triton, then --backend torch
# Each step has its own time limit, cut to what is left of the 8 minutes; a step that runs out is
# killed and reported ("timed out", exit 124), and the run goes on. Results are written as they
# come, into OUT_DIR: log.txt (everything printed), steps.txt (each step's outcome), bench.json and
# tiles.json (one row added at a time), train-triton.jsonl and train-torch.jsonl (one epoch a line),
# and summary.txt, written last whatever happened. --dry-run checks the packages and the data and
# lists the steps with their limits, without a GPU, and runs nothing else.
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi
for arg in "$@"; do
  if [[ $arg == -* ]]; then
    echo "error: unknown option $arg; usage: bash benchmarks/gpu_check.sh [--dry-run] [DATA_DIR] [OUT_DIR] (the data folder is given as it is, without a flag)" >&2
    exit 2
  fi
done
PY=${PYTHON:-python3}  # the interpreter that holds torch (GPU images often have no plain "python")
DATA=${1:-data}
DEST=${2:-${OUT:-gpu-check}}
BUDGET=480  # seconds in all
RESERVE=10  # kept back for the summary
mkdir -p "$DEST"
export PYTHONPATH=. PYTHONUNBUFFERED=1
LOG="$DEST/log.txt"
STEPS="$DEST/steps.txt"
: > "$LOG"
: > "$STEPS"
START=$SECONDS

say() { printf '%s\n' "$*" | tee -a "$LOG"; }
section() { printf '\n===== %s (%s, %d s in)\n' "$1" "$(date +%T)" "$((SECONDS - START))" | tee -a "$LOG"; }

# step NAME LIMIT COMMAND...: run COMMAND under LIMIT seconds (cut to what is left), log it, record
# the outcome in steps.txt; a timeout is exit 124, said out loud. In --dry-run, only list it.
step() {
  local name=$1 limit=$2 rc
  shift 2
  local left=$((BUDGET - RESERVE - (SECONDS - START)))
  if ((limit > left)); then limit=$left; fi
  if ((DRY)); then
    say "would run: $name, limit ${limit} s: $*"
    echo "$name: dry run (limit ${limit} s)" >> "$STEPS"
    return 0
  fi
  section "$name (limit ${limit} s)"
  if ((limit <= 0)); then
    say "skipped: $name: no time left of the ${BUDGET} s"
    echo "$name: skipped (no time left)" >> "$STEPS"
    return 0
  fi
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  if ((rc == 124 || rc == 137)); then
    say "timed out: $name after ${limit} s (exit $rc)"
    echo "$name: timed out after ${limit} s (exit $rc)" >> "$STEPS"
  elif ((rc != 0)); then
    say "failed: $name (exit $rc)"
    echo "$name: failed (exit $rc)" >> "$STEPS"
  else
    echo "$name: ok ($((SECONDS - START)) s in)" >> "$STEPS"
  fi
}

summary() {
  section "summary ($((SECONDS - START)) s in all)"
  "$PY" - "$DEST" <<'PY' 2>&1 | tee "$DEST/summary.txt" | tee -a "$LOG"
import json, sys
from pathlib import Path
dest = Path(sys.argv[1])
print("steps:")
for line in (dest / "steps.txt").read_text().splitlines():
    print(f"  {line}")
try:
    rows = json.loads((dest / "bench.json").read_text())
except (FileNotFoundError, json.JSONDecodeError):
    rows = []
if rows:
    print("bench (ours / cuDNN, both sides in the same precision; < 1 is faster):")
    print(f"  {'config':<10} {'impl':<7} {'runs':<5} {'prec':<4} {'infer':>6} {'train':>6}  peak MB ours/cuDNN")
    for r in rows:
        print(f"  {r['name']:<10} {r['impl']:<7} {r['runs']:<5} {r['precision']:<4} {r['infer_ratio']:>6.2f} "
              f"{r['train_ratio']:>6.2f}  {r.get('peak_ours_mb', float('nan')):.0f}/{r.get('peak_torch_mb', float('nan')):.0f}")
else:
    print("bench: no rows")
try:
    tiles = json.loads((dest / "tiles.json").read_text())
except (FileNotFoundError, json.JSONDecodeError):
    tiles = []
for config in dict.fromkeys(r["config"] for r in tiles):
    mine = [r for r in tiles if r["config"] == config]
    best = min(mine, key=lambda r: r["train_ms"])
    rule = next((r for r in mine if r["rule_picks"]), None)
    tile = lambda r: f"{r['block_b']}x{r['block_h']}{' split' if r['split'] else ''}"
    print(f"tiles {config}: fastest training step {tile(best)} {best['train_ms']:.3f} ms"
          + (f"; the rule's {tile(rule)} {rule['train_ms']:.3f} ms" if rule else "; the rule's tiling not timed"))
epochs = {}
for backend in ("triton", "torch"):
    path = dest / f"train-{backend}.jsonl"
    if path.exists():
        epochs[backend] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for m in epochs[backend]:
            print(f"train {backend}: epoch {m['epoch']} {m['seconds']:.1f} s, test acc {100 * m['test_acc']:.2f}%")
if len(epochs) == 2 and epochs["triton"] and epochs["torch"]:
    last = lambda b: epochs[b][-1]["seconds"]  # the last epoch: compilation and warm-up are over
    print(f"epoch time triton / torch (last epoch): {last('triton') / last('torch'):.2f}")
PY
  say "total: $((SECONDS - START)) s"
}

section "preflight: packages, GPU, data (limit 60 s)"
timeout --kill-after=5 60 "$PY" - "$DATA" "$DRY" <<'PY' 2>&1 | tee -a "$LOG"
import importlib.util, sys
data, dry = sys.argv[1], sys.argv[2] == "1"
missing = [m for m in ("torch", "triton", "pytest", "hypothesis", "tqdm", "matplotlib", "numpy")
           if importlib.util.find_spec(m) is None]
if missing:
    print(f"error: missing Python packages: {', '.join(missing)}; install them first "
          f"(pip install {' '.join(missing)})")
    sys.exit(2)
import torch
import triton
if torch.cuda.is_available():
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}, triton {triton.__version__}")
elif not dry:
    print("error: no CUDA GPU here (torch.cuda.is_available() is False); gpu_check.sh runs the GPU "
          "checks, so run it on a machine with one (--dry-run checks the data and lists the steps "
          "anywhere)")
    sys.exit(2)
from scratch_lstm.app.data import load_dataset
from scratch_lstm.app.errors import DataError
try:
    ds = load_dataset("mnist", data)
except DataError as e:
    print(f"error: {e}")
    sys.exit(2)
print(f"data: {ds.name} from {ds.source}, {len(ds.train_labels):,} training and "
      f"{len(ds.test_labels):,} test images"
      + ("" if ds.published else "; note: not the published MNIST files, so epoch times are not "
         "those of the lecture's configuration"))
PY
rc=${PIPESTATUS[0]}
if ((rc == 124 || rc == 137)); then say "timed out: preflight after 60 s (exit $rc)"; fi
if ((rc != 0)); then
  echo "preflight: failed (exit $rc): nothing else was run" >> "$STEPS"
  summary
  exit "$rc"
fi
echo "preflight: ok ($((SECONDS - START)) s in)" >> "$STEPS"

step machine 10 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
step warm 70 "$PY" benchmarks/triton_warm.py --jobs 8
step tests 115 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py
step bench 90 "$PY" -m scratch_lstm bench --device cuda --impl scratch fused triton \
  --precision ieee tf32 --repeats 5 --json "$DEST/bench.json"
step tiles 45 "$PY" benchmarks/triton_tiles.py --repeats 10 --json "$DEST/tiles.json"
for backend in triton torch; do
  RUN=$(mktemp -d)
  limit=45
  if [[ $backend == torch ]]; then limit=30; fi
  step "train-$backend" "$limit" "$PY" -m scratch_lstm train --data-dir "$DATA" --dataset mnist \
    --backend "$backend" --device cuda --epochs 2 --log-every 0 --out "$RUN/run"
  cp "$RUN/run/metrics.jsonl" "$DEST/train-$backend.jsonl" 2>/dev/null
  rm -rf "$RUN"
done
summary
