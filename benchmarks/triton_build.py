"""Build the Triton step kernels for an H100 (sm_90) on any machine, as they run, and report them.

No GPU needed: Triton compiles to the real cubin here. The arguments are the ones the layer
passes: ``scratch_lstm.triton_lstm._forward`` and ``_backward`` run on CPU tensors of each
benchmark configuration with the kernel launch intercepted, so the tiling, the ``W_hh`` layout
and the precision are the dispatch's own, and the JIT's binder specialises them as it does on
the GPU (pointers 16-byte aligned, sizes divisible by 16, unit strides as constants). Both
precisions: IEEE fp32 and TF32. For each build it reports the programs per launch, shared memory,
registers, spill (stack) bytes, and what the k-loop's shared-memory loads compile to (``LDS`` of
4/8/16 bytes, ``LDSM``: ldmatrix) beside its math (``FFMA``, ``HMMA``/``HGMMA``: tensor cores),
and how many global loads are issued before the k-loop. triton's bundled ``cuobjdump`` reads
the cubin.

    python benchmarks/triton_build.py            # a table: the three configurations, then every tiling
    python benchmarks/triton_build.py --json     # the same rows as JSON (tests/test_triton.py reads them)

Exits 1 if any build spills to the stack (none may) or uses more shared memory than sm_90 gives a
block. About 1.5 minutes on a 2-core CPU with Triton's cache cold, under a minute warm (most of it
``cuobjdump``).
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

if os.environ.get("TRITON_INTERPRET") == "1":  # the interpreter replaces the compiler: rerun without it
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    sys.exit(subprocess.run([sys.executable, *sys.argv], env=env).returncode)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource, make_backend  # noqa: E402
from triton.runtime.jit import create_function_from_signature  # noqa: E402

from scratch_lstm import triton_lstm as tr  # noqa: E402
from scratch_lstm.app.bench import CONFIGS  # noqa: E402
from scratch_lstm.precision import PRECISIONS, fp32_precision  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)  # an H100
SHARED_LIMIT = 227 * 1024  # the most shared memory one block may use on sm_90
CUOBJDUMP = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
SWEEP_SHAPE = (1024, 256)  # (B, H) at which every tiling is built for the spill check


def launches(B: int, H: int, precision: str, tiling: "tr.Tiling | None" = None) -> dict:
    """The first launch of each kernel that a forward (with and without saving the gates) and a
    backward of one ``(B, H)`` layer make: ``{name: (kernel, grid, args, kwargs)}``.

    ``tiling`` replaces the rule's choice (:func:`scratch_lstm.triton_lstm.tiles`).
    """
    caught = {}

    def catch(name):
        def launcher(kernel, til, B_, H_):
            grid = (triton.cdiv(B_, til.block_b), triton.cdiv(H_, til.block_h), 4 if til.split else 1)
            return lambda *args, **kwargs: caught.setdefault(name, (kernel, grid, args, kwargs))
        return launcher

    real_launch, real_tiles = tr._launch, tr.tiles
    if tiling is not None:
        tr.tiles = lambda *_, **__: tiling
    try:
        with fp32_precision(precision):
            T, I = 2, 4
            x, h0, c0 = torch.zeros(T, B, I), torch.zeros(B, H), torch.zeros(B, H)
            w_ih, w_hh, b = torch.zeros(4 * H, I), torch.zeros(4 * H, H), torch.zeros(4 * H)
            for name, save in (("forward", True), ("inference", False)):
                tr._launch = catch(name)
                y, G, Cs = tr._forward(x, h0, c0, w_ih, w_hh, b, b, reverse=False, save=save)
            tr._launch = catch("backward")
            tr._backward(torch.zeros(T, B, H), h0, c0, x, h0, w_ih, w_hh, y, G, Cs, reverse=False,
                         has_bias=True, needs=(False,) * 7)
    finally:
        tr._launch, tr.tiles = real_launch, real_tiles
    return caught


def compile_as_the_jit(kernel, args: tuple, kwargs: dict):
    """``triton.compile`` for sm_90 with the signature, constants and divisibility attributes that
    the JIT's binder derives from these launch arguments."""
    backend = make_backend(TARGET)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = kernel._pack_args(backend, kwargs, bound, specialization, options)
    return triton.compile(ASTSource(kernel, signature, constexprs, attrs), target=TARGET,
                          options=options.__dict__)


def cuobjdump(cubin: bytes) -> str:
    """``cuobjdump -res-usage -sass`` on a cubin: its resources, then its machine code."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as fh:
        fh.write(cubin)
        fh.flush()
        return subprocess.run([str(CUOBJDUMP), "-res-usage", "-sass", fh.name], capture_output=True,
                              text=True, check=True).stdout


def loop_report(sass: str) -> dict:
    """The k-loop of a kernel's SASS (the longest backward branch's body): its instruction counts
    of shared loads, asynchronous global-to-shared copies (``LDGSTS.E.BYPASS.128``: 16 bytes,
    ``LDGSTS.E``: 4) and math, and how many global loads come before it."""
    code = []  # (address, opcode with modifiers, operands)
    for line in sass.splitlines():
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][\w.]*)(.*?);", line)
        if m and (m.group(2) or "").strip() != "@!PT":  # @!PT: never executed (scheduling filler)
            code.append((int(m.group(1), 16), m.group(3), m.group(4)))
    loops = [(int(m.group(1), 16), addr) for addr, op, rest in code if op == "BRA"
             for m in [re.search(r"0x([0-9a-f]+)", rest)] if m and int(m.group(1), 16) < addr]
    if not loops:
        return {"loop_shared_loads": {}, "loop_copies": {}, "loop_math": {}, "global_loads_before_loop": None}
    start, end = max(loops, key=lambda se: se[1] - se[0])
    body = collections.Counter(op for addr, op, _ in code if start <= addr <= end)
    return {
        "loop_shared_loads": {op: n for op, n in sorted(body.items()) if op.startswith("LDS")},
        "loop_copies": {op: n for op, n in sorted(body.items()) if op.startswith("LDGSTS")},
        "loop_math": {op: n for op, n in sorted(body.items()) if op.split(".")[0] in ("FFMA", "HMMA", "HGMMA")},
        "global_loads_before_loop": sum(1 for addr, op, _ in code if addr < start and op.startswith("LDG.")),
    }


def build(name: str, launch: tuple, precision: str, config: str, sass_dir: Path | None = None) -> dict:
    """Compile one launch; its resources and loop report as a dict (and its SASS in ``sass_dir``)."""
    kernel, grid, args, kwargs = launch
    compiled = compile_as_the_jit(kernel, args, kwargs)
    sass = cuobjdump(compiled.asm["cubin"])
    usage = dict(item.split(":", 1) for item in next(line for line in sass.splitlines() if "REG:" in line).split())
    k = kwargs
    row = {"config": config, "kernel": name, "precision": precision, "block_b": k["BLOCK_B"],
           "block_h": k["BLOCK_H"], "split": k["SPLIT"], "num_warps": k["num_warps"],
           "programs": grid[0] * grid[1] * grid[2], "shared_bytes": compiled.metadata.shared,
           "registers": int(usage["REG"]), "stack_bytes": int(usage["STACK"]),
           "tf32_mma_in_ptx": "tf32" in compiled.asm["ptx"]}
    row.update(loop_report(sass))
    if sass_dir is not None:
        tile = f"{row['block_b']}x{row['block_h']}{'-split' if row['split'] else ''}"
        (sass_dir / f"{config.replace(' ', '-')}-{precision}-{name}-{tile}.sass").write_text(sass)
    return row


def all_rows(sass_dir: Path | None = None) -> list[dict]:
    """The three configurations with the rule's tiling, then every tiling at :data:`SWEEP_SHAPE`."""
    rows = []
    for precision in PRECISIONS:
        for cfg in CONFIGS.values():
            for name, launch in launches(cfg.batch, cfg.hidden_size, precision).items():
                rows.append(build(name, launch, precision, cfg.name, sass_dir))
    B, H = SWEEP_SHAPE
    for precision in PRECISIONS:
        for split in (False, True):
            for bb, bh in tr.TILES:
                tiling = tr.Tiling(bb, bh, 32, tr.num_warps_for(bb, bh), split)
                for name, launch in launches(B, H, precision, tiling).items():
                    if name != "inference":  # the forward without its 4 stores: built per configuration
                        rows.append(build(name, launch, precision, f"B{B} H{H}", sass_dir))
    return rows


def loads(row: dict) -> str:
    """``"32 LDSM.16.M88.4 + 16 LDS.128"``: the k-loop's shared loads."""
    return " + ".join(f"{n} {op}" for op, n in row["loop_shared_loads"].items()) or "-"


def table(rows: list[dict]) -> str:
    """The rows as a plain-text table."""
    head = (f"{'config':<10} {'prec':<4} {'kernel':<9} {'tile':>6} {'split':>5} {'warps':>5} {'progs':>5} "
            f"{'smem KB':>7} {'regs':>4} {'spill':>5} {'ld<loop':>7}  k-loop: shared loads | math")
    lines = [head, "-" * len(head)]
    for r in rows:
        math = " + ".join(f"{n} {op}" for op, n in r["loop_math"].items()) or "-"
        lines.append(f"{r['config']:<10} {r['precision']:<4} {r['kernel']:<9} {r['block_b']:>3}x{r['block_h']:<2} "
                     f"{'yes' if r['split'] else 'no':>5} {r['num_warps']:>5} {r['programs']:>5} "
                     f"{r['shared_bytes'] / 1024:>7.1f} {r['registers']:>4} {r['stack_bytes']:>5} "
                     f"{r['global_loads_before_loop']!s:>7}  {loads(r)} | {math}")
    return "\n".join(lines)


def problems(rows: list[dict]) -> list[str]:
    """What must not be: a spill, or more shared memory than a block gets."""
    return [f"{r['config']} {r['precision']} {r['kernel']} {r['block_b']}x{r['block_h']}"
            f"{' split' if r['split'] else ''}: {r['stack_bytes']} bytes of stack (spills), "
            f"{r['shared_bytes']} bytes of shared memory"
            for r in rows if r["stack_bytes"] > 0 or r["shared_bytes"] > SHARED_LIMIT]


def main(argv=None) -> int:
    """Build every variant, print the table (or JSON); 1 if any build spills or overflows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument("--sass-dir", type=Path, metavar="DIR",
                        help="also write each build's SASS there (default: none written)")
    args = parser.parse_args(argv)
    if not CUOBJDUMP.exists():
        print(f"error: triton's cuobjdump is missing ({CUOBJDUMP}); this triton cannot report "
              "registers and spills", file=sys.stderr)
        return 2
    if args.sass_dir is not None:
        args.sass_dir.mkdir(parents=True, exist_ok=True)
    rows = all_rows(args.sass_dir)
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"triton {triton.__version__}, torch {torch.__version__}; target sm_90 (H100, 132 SMs "
              f"assumed by the rule); built as the JIT specialises each launch")
        print(table(rows))
    bad = problems(rows)
    for line in bad:
        print(f"error: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
