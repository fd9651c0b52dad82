"""Build the Triton step kernels for an H100 (sm_90) on any machine, and report their resources.

No GPU needed: Triton compiles to the real cubin here. For every tile shape the kernels may use
(``scratch_lstm.triton_lstm.TILES``) prints the shared memory, registers per thread and stack
(spill) bytes of the forward and backward step kernels, from triton's bundled ``cuobjdump``.

    python benchmarks/triton_build.py            # a table
    python benchmarks/triton_build.py --json     # the same as JSON (used by tests/test_triton.py)

Runs in about 10 seconds on a CPU (cached by Triton afterwards).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

if os.environ.get("TRITON_INTERPRET") == "1":  # the interpreter replaces the compiler: rerun without it
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    sys.exit(subprocess.run([sys.executable, *sys.argv], env=env).returncode)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from scratch_lstm import triton_lstm as tr  # noqa: E402

SIGNATURES = {
    "forward": (tr._forward_step, {"Z": "*fp32", "Y": "*fp32", "H0": "*fp32", "Cs": "*fp32",
                                   "W_hh": "*fp32", "t": "i32", "has_prev": "i32", "B": "i32", "H": "i32"}),
    "backward": (tr._backward_step, {"G": "*fp32", "Cs": "*fp32", "dY": "*fp32", "dZ": "*fp32",
                                     "dC": "*fp32", "dHn": "*fp32", "W_hh": "*fp32", "t": "i32",
                                     "has_next": "i32", "B": "i32", "H": "i32", "s_yt": "i32",
                                     "s_yb": "i32", "s_yh": "i32"}),
}
CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def build(kernel: str, block_b: int, block_h: int, arch: int = 90) -> dict:
    """Compile one kernel variant for ``sm_{arch}``; its resources as a dict."""
    fn, signature = SIGNATURES[kernel]
    const = {"REVERSE": False, "BLOCK_B": block_b, "BLOCK_H": block_h, "BLOCK_K": 32, "PRECISION": "ieee"}
    if kernel == "forward":
        const["SAVE"] = True
    num_warps = tr.num_warps_for(block_b, block_h)
    src = ASTSource(fn=fn, signature={**signature, **{k: "constexpr" for k in const}}, constexprs=const)
    compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps})
    row = {"kernel": kernel, "block_b": block_b, "block_h": block_h, "num_warps": num_warps,
           "shared_bytes": compiled.metadata.shared,
           "fma_in_ptx": "fma.rn.f32" in compiled.asm["ptx"], "registers": None, "stack_bytes": None}
    if CUOBJDUMP.exists():
        with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
            fh.write(compiled.asm["cubin"])
            fh.flush()
            report = subprocess.run([str(CUOBJDUMP), "-res-usage", fh.name], capture_output=True,
                                    text=True, check=True).stdout
        usage = dict(item.split(":", 1) for item in
                     next(line for line in report.splitlines() if "REG:" in line).split())
        row["registers"], row["stack_bytes"] = int(usage["REG"]), int(usage["STACK"])
    return row


def main(argv=None) -> int:
    """Build every variant and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args(argv)
    rows = [build(kernel, bb, bh) for bb, bh in tr.TILES for kernel in SIGNATURES]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"triton {triton.__version__}, target sm_90 (H100); shared memory limit 227 KB per block")
    print(f"{'kernel':<9} {'tile BxH':>8} {'warps':>5} {'shared KB':>9} {'regs':>5} {'spill B':>7}")
    for r in rows:
        print(f"{r['kernel']:<9} {r['block_b']:>4}x{r['block_h']:<3} {r['num_warps']:>5} "
              f"{r['shared_bytes'] / 1024:>9.1f} {r['registers']!s:>5} {r['stack_bytes']!s:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
