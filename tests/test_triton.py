"""The Triton kernels (impl="triton") on the CPU, in Triton's interpreter (TRITON_INTERPRET=1).

conftest.py turns the interpreter on where there is no GPU. The equivalence suite covers
impl="triton" against nn.LSTM (tests/test_equivalence.py); here: the two step kernels against
lstm_step and autograd (one program a tile, and split in four), both W_hh layouts, the torch
precision settings, the fallbacks, the error without a GPU, and the real H100 build (registers,
spills, what the k-loops compile to, programs per launch).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TOL
from hypothesis import given, settings
from hypothesis import strategies as st

from scratch_lstm import LSTM, lstm_step
from scratch_lstm.impls import interpreting
from scratch_lstm.precision import fp32_precision

triton = pytest.importorskip("triton")
tr = pytest.importorskip("scratch_lstm.triton_lstm")
pytestmark = pytest.mark.skipif(not interpreting(), reason="needs TRITON_INTERPRET=1 (set by conftest without a GPU)")

ROOT = Path(__file__).resolve().parents[1]


def step_tensors(B, I, H, seed, bias=True):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    return (r(B, I), r(B, H), r(B, H), r(4 * H, I) * 0.5, r(4 * H, H) * 0.5,
            r(4 * H) if bias else None, r(4 * H) if bias else None)


def tiling(B, H, split):
    """The rule's tile for (B, H), with or without the split into four programs a tile."""
    return tr.tiles(B, H)._replace(split=split)


def launch_forward_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, reverse, split, rows_contiguous):
    """One launch of _forward_step for a single step (T=1), as _forward makes it; W_hh laid out
    with its rows' or its columns' index contiguous (the layouts of IEEE and of TF32)."""
    B, H = h_prev.shape
    Z = (x @ w_ih.T + (b_ih + b_hh if b_ih is not None else 0)).reshape(1, B, 4 * H).contiguous()
    y = torch.full((1, B, H), float("nan"))  # poisoned: every element must be written
    Cs = torch.full((2, B, H), float("nan"))
    Cs[1 if reverse else 0] = c_prev
    til = tiling(B, H, split)
    w = tr._laid_out(w_hh, rows_contiguous)
    count = torch.zeros(triton.cdiv(B, til.block_b) * triton.cdiv(H, til.block_h), dtype=torch.int32)
    tr._launch(tr._forward_step, til, B, H)(
        Z, y, h_prev.contiguous(), Cs, w, *w.stride(), count, 0, 0, B, H, REVERSE=reverse, SAVE=True,
        SPLIT=split, BLOCK_B=til.block_b, BLOCK_H=til.block_h, BLOCK_K=til.block_k, PRECISION="ieee")
    assert not count.any()  # the last program of each tile set its counter back
    return Z[0], y[0], Cs[0 if reverse else 1]


@pytest.mark.parametrize("split", [False, True], ids=["one-program-a-tile", "split"])
@settings(max_examples=15)
@given(B=st.integers(1, 40), I=st.integers(1, 5), H=st.integers(1, 40), bias=st.booleans(),
       reverse=st.booleans(), rows_contiguous=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_forward_step_kernel_computes_lstm_step(split, B, I, H, bias, reverse, rows_contiguous, seed):
    x, h, c, w_ih, w_hh, b_ih, b_hh = step_tensors(B, I, H, seed, bias)
    gates, h_new, c_new = launch_forward_step(x, h, c, w_ih, w_hh, b_ih, b_hh, reverse, split,
                                              rows_contiguous)
    s = lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
    torch.testing.assert_close(gates, torch.cat([s.i, s.f, s.g, s.o], 1), **TOL[torch.float32])
    torch.testing.assert_close(c_new, s.c, **TOL[torch.float32])
    torch.testing.assert_close(h_new, s.h, **TOL[torch.float32])


@pytest.mark.parametrize("split", [False, True], ids=["one-program-a-tile", "split"])
@settings(max_examples=15)
@given(B=st.integers(1, 40), H=st.integers(1, 40), reverse=st.booleans(), has_next=st.booleans(),
       rows_contiguous=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_backward_step_kernel_equals_autograd_through_lstm_step(split, B, H, reverse, has_next,
                                                                rows_contiguous, seed):
    """One step's gradient; with ``has_next`` the gradient that the step after sends back,
    ``dz_{t+1} W_hh``, is part of dh_t (the product that the split shares among four programs)."""
    x, h, c, w_ih, w_hh, b_ih, b_hh = step_tensors(B, 3, H, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    dy, dh_n, dc_n, dz_next = (torch.randn(B, n * H, generator=gen) for n in (1, 1, 1, 4))
    dh = dy + (dz_next @ w_hh if has_next else dh_n)  # what reaches h_t
    # autograd through the equations: the gradients of z_t (the pre-activations) and of c_{t-1}
    z = (x @ w_ih.T + h @ w_hh.T + b_ih + b_hh).requires_grad_()
    c_prev = c.clone().requires_grad_()
    z_i, z_f, z_g, z_o = z.chunk(4, 1)
    c_new = torch.sigmoid(z_f) * c_prev + torch.sigmoid(z_i) * torch.tanh(z_g)
    h_new = torch.sigmoid(z_o) * torch.tanh(c_new)
    dz, dc_prev = torch.autograd.grad((h_new, c_new), (z, c_prev), (dh, dc_n))

    gates, _, _ = launch_forward_step(x, h, c, w_ih, w_hh, b_ih, b_hh, reverse, False, False)
    Cs = torch.stack([c, c_new.detach()])
    if reverse:
        Cs = Cs.flip(0).contiguous()
    # two steps in dZ: the one differentiated (t = 0), and the one after it, already done
    dZ = torch.stack([torch.full((B, 4 * H), float("nan")), dz_next])
    G = torch.cat([gates[None], torch.zeros(1, B, 4 * H)])
    dC = dc_n.clone()
    til = tiling(B, H, split)
    w = tr._laid_out(w_hh, rows_contiguous)
    part = torch.full((4, B, H), float("nan")) if split else dC
    count = torch.zeros(triton.cdiv(B, til.block_b) * triton.cdiv(H, til.block_h), dtype=torch.int32)
    dY = torch.stack([dy, torch.zeros(B, H)])
    t = 1 if reverse else 0  # the step after t is t + 1 (t - 1 in reverse): slot 1 of dZ either way
    if reverse:
        dZ, G, dY = dZ.flip(0).contiguous(), G.flip(0).contiguous(), dY.flip(0).contiguous()
        Cs = torch.cat([torch.zeros(1, B, H), Cs])  # slots t + 1 (c_{t-1}) and t (c_t) for t = 1
    tr._launch(tr._backward_step, til, B, H)(
        G, Cs, dY, dZ, dC, dh_n, w, *w.stride(), part, count, t, int(has_next), B, H, *dY.stride(),
        REVERSE=reverse, SPLIT=split, BLOCK_B=til.block_b, BLOCK_H=til.block_h,
        BLOCK_K=til.block_k, PRECISION="ieee")
    assert not count.any()
    torch.testing.assert_close(dZ[t], dz, **TOL[torch.float32])
    torch.testing.assert_close(dC, dc_prev, **TOL[torch.float32])


def run_counting_launches(monkeypatch, module, x):
    """Run module(x) forward and backward; return how many layers ran on the kernels."""
    calls = []
    real = tr._forward
    monkeypatch.setattr(tr, "_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    out, (h, c) = module(x)
    data = out.data if hasattr(out, "batch_sizes") else out
    (data.sum() + h.sum() + c.sum()).backward()
    return len(calls)


def test_the_kernels_run_for_what_they_cover(monkeypatch):
    model = LSTM(3, 5, num_layers=2, bidirectional=True, impl="triton")
    assert run_counting_launches(monkeypatch, model, torch.randn(4, 2, 3)) == 4  # 2 layers x 2 directions


@pytest.mark.parametrize("what", ["proj_size", "float64", "packed"])
def test_what_the_kernels_do_not_cover_falls_back_and_still_equals_nn_lstm(what, monkeypatch):
    torch.manual_seed(0)
    kwargs = {"proj_size": 2} if what == "proj_size" else {}
    dtype = torch.float64 if what == "float64" else torch.float32
    ref = torch.nn.LSTM(3, 5, **kwargs, dtype=dtype)
    ours = LSTM(3, 5, **kwargs, dtype=dtype, impl="triton")
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 2, 3, dtype=dtype)
    if what == "packed":
        x = torch.nn.utils.rnn.pack_padded_sequence(x, [4, 2])
    assert run_counting_launches(monkeypatch, ours, x) == 0
    out, (h, c) = ours(x)
    ref_out, (ref_h, ref_c) = ref(x)
    if what == "packed":
        out, ref_out = out.data, ref_out.data
    for a, e in ((out, ref_out), (h, ref_h), (c, ref_c)):
        torch.testing.assert_close(a, e, **TOL[dtype])


def test_batch_of_zero_and_inference_path():
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 5, num_layers=2)
    ours = LSTM(3, 5, num_layers=2, impl="triton")
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(6, 3, 3)
    with torch.no_grad():
        for a, e in zip(ours(x)[1] + (ours(x)[0],), ref(x)[1] + (ref(x)[0],)):
            torch.testing.assert_close(a, e, **TOL[torch.float32])
    out, (h, c) = ours(torch.randn(6, 0, 3, requires_grad=True))
    assert out.shape == (6, 0, 5) and h.shape == c.shape == (2, 0, 5)


@pytest.mark.parametrize("split", [False, True], ids=["one-program-a-tile", "split"])
@pytest.mark.parametrize("precision", ["ieee", "tf32"])
def test_both_tilings_and_weight_layouts_equal_nn_lstm(split, precision, monkeypatch):
    """Several steps, tiles and layers, both directions: the recurrent gradient ``dz_{t+1} W_hh``
    of every step, with W_hh in the layout each precision reads (in the interpreter TF32's
    products are exact, so both are held to float32's tolerance)."""
    monkeypatch.setattr(tr, "tiles", lambda B, H, device=None: tr.Tiling(16, 16, 32, 4, split))
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 20, num_layers=2, bidirectional=True)
    ours = LSTM(3, 20, num_layers=2, bidirectional=True, impl="triton")
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 18, 3)  # 2 x 2 tiles of the (18, 20) state
    results = []
    with fp32_precision(precision):
        for m in (ours, ref):
            out, (h, c) = m(x)
            (out.square().sum() + h.sum() + c.sum()).backward()
            results.append([out, h, c] + [p.grad for p in m.parameters()])
    for a, e in zip(*results):
        torch.testing.assert_close(a, e, **TOL[torch.float32])


@pytest.mark.parametrize("setting", ["cuda.matmul", "backends"])
def test_the_new_precision_api_never_crashes_and_is_followed(setting, monkeypatch):
    """``torch.backends.cuda.matmul.fp32_precision = "tf32"`` (or ``torch.backends.fp32_precision``,
    which the matmul setting inherits while it is "none") makes torch >= 2.9 refuse to read
    ``allow_tf32``; the kernels read the new setting instead."""
    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip("this torch has no fp32_precision API")
    launched = []
    real = tr._launch
    monkeypatch.setattr(tr, "_launch", lambda *a: (lambda *args, **kw: launched.append(kw["PRECISION"])
                                                  or real(*a)(*args, **kw)))
    before = matmul.fp32_precision, torch.backends.fp32_precision
    try:
        if setting == "cuda.matmul":
            matmul.fp32_precision = "tf32"
        else:
            matmul.fp32_precision, torch.backends.fp32_precision = "none", "tf32"
        out, _ = LSTM(3, 5, impl="triton")(torch.randn(2, 3, 3))
    finally:
        matmul.fp32_precision, torch.backends.fp32_precision = before
    assert out.shape == (2, 3, 5) and launched and set(launched) == {"tf32"}


def test_inference_returns_the_final_states_in_their_own_memory():
    """Without autograd, h_n and c_n are copies: views would keep the (T+1, B, H) cell states alive."""
    T, B, I, H = 6, 3, 2, 5
    args = (torch.randn(T, B, I), torch.randn(B, H), torch.randn(B, H), torch.randn(4 * H, I),
            torch.randn(4 * H, H), torch.randn(4 * H), torch.randn(4 * H))
    with torch.no_grad():
        y, (h_n, c_n) = tr.triton_lstm_layer(*args)
    for state in (h_n, c_n):
        assert state._base is None and state.untyped_storage().nbytes() == B * H * 4
    torch.testing.assert_close(h_n, y[-1])


def test_without_a_gpu_or_interpreter_using_it_is_one_clear_error():
    code = ("import torch, scratch_lstm\n"
            "m = scratch_lstm.LSTM(3, 4, impl='triton')\n"  # constructing is fine
            "try:\n    m(torch.randn(5, 2, 3))\n"
            "except RuntimeError as e:\n    print('RuntimeError:', e)\n"
            # the study tools run the teaching path whatever the impl: a triton model's gates trace anywhere
            "t = scratch_lstm.trace_gates(m, torch.randn(5, 2, 3))\n"
            "print('traced', tuple(t[0].f.shape))\n")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeError: impl='triton' runs its kernels on a CUDA GPU" in proc.stdout
    assert "use impl='fused'" in proc.stdout
    assert "traced (5, 2, 4)" in proc.stdout  # (T, B, H): time-major input


# ---- the real GPU build: compile for an H100 (sm_90) without one --------------------------

H100_SHARED_BYTES = 227 * 1024  # the most shared memory one block may use on sm_90


@pytest.fixture(scope="module")
def build_rows():
    """benchmarks/triton_build.py --json: every build, as the JIT makes it, in both precisions."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "triton_build.py"), "--json"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr  # 1: a build spills or overflows shared memory
    return json.loads(proc.stdout)


def test_kernels_build_for_an_h100_without_spilling(build_rows):
    """Every tiling the rule may pick, the three configurations' builds, both precisions: an sm_90
    cubin that fits and does not spill, with tensor cores exactly in TF32."""
    assert {(r["block_b"], r["block_h"], r["split"]) for r in build_rows} == {
        (*t, split) for t in tr.TILES for split in (False, True)}
    assert {r["precision"] for r in build_rows} == {"ieee", "tf32"}
    for r in build_rows:
        assert r["shared_bytes"] <= H100_SHARED_BYTES, r
        assert r["stack_bytes"] == 0 and r["registers"] <= 255, r
        assert r["tf32_mma_in_ptx"] == (r["precision"] == "tf32"), r
        assert r["loop_math"], r  # the k-loop was found


def test_the_build_fills_an_h100_on_every_benchmark_configuration(build_rows):
    """Each launch of the seed, long and batch1024 configurations runs at least one program per
    multiprocessor (132), in both precisions (16 x 16 tiles alone gave 128 and 64)."""
    rows = [r for r in build_rows if r["config"] in ("lecture", "long", "batch1024")]
    assert {(r["config"], r["kernel"], r["precision"]) for r in rows} == {
        (c, k, p) for c in ("lecture", "long", "batch1024") for k in ("forward", "inference", "backward")
        for p in ("ieee", "tf32")}
    assert all(r["programs"] >= tr.H100_SMS for r in rows), [(r["config"], r["programs"]) for r in rows]


def test_the_k_loops_read_shared_memory_as_each_precision_wants(build_rows):
    """IEEE: the forward reads W_hh with its units contiguous, as the backward always did, so its
    k-loop has no more 16-byte shared loads (LDS.128) than the backward's of the same tile (those
    are h_{t-1}'s or dz_{t+1}'s rows); reading W_hh with k contiguous gave 47 against 16 on the
    lecture shape, 16 lanes on the same 4 banks. TF32: no 4-byte shared loads (LDS) in a k-loop, which
    a tensor-core operand laid out against its k index needs (the backward had 8)."""
    key = lambda r: (r["config"], r["precision"], r["block_b"], r["block_h"], r["split"])  # noqa: E731
    backward = {key(r): r for r in build_rows if r["kernel"] == "backward"}
    for r in build_rows:
        if r["kernel"] == "backward":
            continue
        loads, theirs = r["loop_shared_loads"], backward[key(r)]["loop_shared_loads"]
        if r["precision"] == "ieee":
            assert loads.get("LDS.128", 0) <= theirs.get("LDS.128", 0), r
        else:
            assert "LDS" not in loads and "LDS" not in theirs, (r, theirs)


def test_the_forward_loads_its_inputs_before_the_product(build_rows):
    """Z_x (and c_{t-1}) do not depend on h_{t-1}: their global loads are issued before the
    k-loop (they came after it), so their latency overlaps the product."""
    for r in build_rows:
        if r["kernel"] in ("forward", "inference"):
            assert r["global_loads_before_loop"] >= 2, r  # a gate's Z_x (all four unsplit) and c_{t-1}


# ---- the CLI with --backend triton ---------------------------------------------------------

def test_train_eval_gates_on_the_triton_backend_in_the_interpreter(tmp_path, capsys, monkeypatch):
    from scratch_lstm.app.cli import main

    # The interpreter runs the programs of a launch one after another: the largest tile keeps the
    # 1,000-image test passes quick (the kernel tests above use the GPU's choice).
    monkeypatch.setattr(tr, "tiles", lambda B, H, device=None: tr.Tiling(64, 32, 32, 8, False))

    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--backend", "triton", "--hidden-size", "16",
                 "--num-layers", "1", "--epochs", "1", "--train-subset", "100", "--batch-size", "50",
                 "--log-every", "0", "--device", "cpu", "--out", str(out)]) == 0
    capsys.readouterr()
    accs = []
    for backend in ("triton", "scratch"):  # the triton checkpoint evaluates the same on the teaching path
        assert main(["eval", "--checkpoint", str(out / "last.pt"), "--backend", backend,
                     "--device", "cpu"]) == 0
        accs.append(next(l for l in capsys.readouterr().out.splitlines() if l.startswith("test accuracy")))
    assert accs[0] == accs[1]
    assert main(["gates", "--checkpoint", str(out / "last.pt"), "--backend", "triton",
                 "--out", str(tmp_path / "gates")]) == 0
    assert json.loads((tmp_path / "gates" / "gates.json").read_text())["backend"] == "triton"


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "mnist-sample", "--backend", "triton", "--device", "cpu", "--out", "RUN"],
    ["bench", "--impl", "triton", "--device", "cpu"],
    ["gates", "--checkpoint", "CKPT", "--backend", "triton", "--out", "RUN"],
    ["inspect", "--backend", "triton"],
])
def test_without_a_gpu_the_cli_says_so_in_one_line(argv, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"model": {}, "model_config": {}}, ckpt)
    argv = [str(tmp_path / "run") if a == "RUN" else str(ckpt) if a == "CKPT" else a for a in argv]
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))  # this checkout
    proc = subprocess.run([sys.executable, "-m", "scratch_lstm", *argv], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "runs its kernels on a CUDA GPU" in lines[0]
    flag = "--impl" if argv[0] == "bench" else "--backend"
    assert f"{flag} triton runs its kernels" in lines[0] and f"use {flag} fused" in lines[0]
    assert not (tmp_path / "run").exists()


def test_coverage_and_tile_rules():
    """kernels_cover: float32 throughout, no projection, 32-bit offsets; tiles: the largest tile
    that still gives each of the 132 multiprocessors a program, split over four programs where no
    tile does and H is at least 4 k-blocks; 8 warps from 1024 elements."""
    f32 = lambda *s: torch.zeros(*s)  # noqa: E731
    x, h, c, w_ih, w_hh, b = f32(2, 3, 4), f32(3, 5), f32(3, 5), f32(20, 4), f32(20, 5), f32(20)
    assert tr.kernels_cover((x, h, c, w_ih, w_hh, b, b, None))
    assert tr.kernels_cover((x, h, c, w_ih, w_hh, None, None, None))
    assert not tr.kernels_cover((x, h, c, w_ih, w_hh, b, b, f32(2, 5)))  # projection
    assert not tr.kernels_cover((x, h.double(), c, w_ih, w_hh, b, b, None))  # a float64 state
    big = torch.zeros(1, 1).expand(2**20, 2**9)  # B * 4H = 2**31 (a view: no memory)
    assert not tr.kernels_cover((x, big, big, w_ih, w_hh, b, b, None))
    # seed: 16 x 16 gives 128 programs, so each tile is split in four: 32 x 16 gives 4 x 64 = 256
    assert tr.tiles(128, 256) == tr.Tiling(32, 16, 32, 4, True)
    assert tr.tiles(128, 128) == tr.Tiling(16, 16, 32, 4, True)  # long: 4 x 64 (64 unsplit)
    assert tr.tiles(1024, 256) == tr.Tiling(64, 16, 32, 8, False)  # batch1024: 16 x 16 = 256 programs
    assert tr.tiles(4096, 1024)[:2] == (64, 32)
    assert tr.tiles(3, 5) == tr.Tiling(16, 16, 32, 4, False)  # a k-loop of one block: no split
    assert tr.tiles(16, 128) == tr.Tiling(16, 16, 32, 4, True)  # 4 x 8 programs: all there are
    for B, H in ((128, 256), (128, 128), (1024, 256), (4096, 1024), (1024, 128)):
        assert tr.programs(B, H, *tr.tiles(B, H)[:2], tr.tiles(B, H).split) >= tr.H100_SMS
    assert [tr.num_warps_for(*t) for t in tr.TILES] == [4, 4, 4, 8, 8, 8]
