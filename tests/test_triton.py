"""The Triton kernels (impl="triton") on the CPU, in Triton's interpreter (TRITON_INTERPRET=1).

conftest.py turns the interpreter on where there is no GPU. The equivalence suite covers
impl="triton" against nn.LSTM (tests/test_equivalence.py); here: the two step kernels against
lstm_step and autograd, the fallbacks, the error without a GPU, and the real H100 build.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TOL
from scratch_lstm import LSTM, lstm_step
from scratch_lstm.impls import interpreting

triton = pytest.importorskip("triton")
tr = pytest.importorskip("scratch_lstm.triton_lstm")
pytestmark = pytest.mark.skipif(not interpreting(), reason="needs TRITON_INTERPRET=1 (set by conftest without a GPU)")

ROOT = Path(__file__).resolve().parents[1]


def step_tensors(B, I, H, seed, bias=True):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    return (r(B, I), r(B, H), r(B, H), r(4 * H, I) * 0.5, r(4 * H, H) * 0.5,
            r(4 * H) if bias else None, r(4 * H) if bias else None)


def launch_forward_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, reverse):
    """One launch of _forward_step for a single step (T=1), as _forward would make it."""
    B, H = h_prev.shape
    Z = (x @ w_ih.T + (b_ih + b_hh if b_ih is not None else 0)).reshape(1, B, 4 * H).contiguous()
    y = torch.full((1, B, H), float("nan"))  # poisoned: every element must be written
    Cs = torch.full((2, B, H), float("nan"))
    Cs[1 if reverse else 0] = c_prev
    BB, BH, BK, _ = tr.tiles(B, H)
    grid = (triton.cdiv(B, BB), triton.cdiv(H, BH))
    tr._forward_step[grid](Z, y, h_prev.contiguous(), Cs, w_hh.contiguous(), 0, 0, B, H,
                           REVERSE=reverse, SAVE=True, BLOCK_B=BB, BLOCK_H=BH, BLOCK_K=BK,
                           PRECISION="ieee")
    return Z[0], y[0], Cs[0 if reverse else 1]


@settings(max_examples=20)
@given(B=st.integers(1, 40), I=st.integers(1, 5), H=st.integers(1, 40), bias=st.booleans(),
       reverse=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_forward_step_kernel_computes_lstm_step(B, I, H, bias, reverse, seed):
    x, h, c, w_ih, w_hh, b_ih, b_hh = step_tensors(B, I, H, seed, bias)
    gates, h_new, c_new = launch_forward_step(x, h, c, w_ih, w_hh, b_ih, b_hh, reverse)
    s = lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)
    torch.testing.assert_close(gates, torch.cat([s.i, s.f, s.g, s.o], 1), **TOL[torch.float32])
    torch.testing.assert_close(c_new, s.c, **TOL[torch.float32])
    torch.testing.assert_close(h_new, s.h, **TOL[torch.float32])


@settings(max_examples=20)
@given(B=st.integers(1, 40), H=st.integers(1, 40), reverse=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_backward_step_kernel_equals_autograd_through_lstm_step(B, H, reverse, seed):
    x, h, c, w_ih, w_hh, b_ih, b_hh = step_tensors(B, 3, H, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    dy, dh_n, dc_n = (torch.randn(B, H, generator=gen) for _ in range(3))
    # autograd through the equations: the gradients of z_t (the pre-activations) and of c_{t-1}
    z = (x @ w_ih.T + h @ w_hh.T + b_ih + b_hh).requires_grad_()
    c_prev = c.clone().requires_grad_()
    z_i, z_f, z_g, z_o = z.chunk(4, 1)
    c_new = torch.sigmoid(z_f) * c_prev + torch.sigmoid(z_i) * torch.tanh(z_g)
    h_new = torch.sigmoid(z_o) * torch.tanh(c_new)
    dz, dc_prev = torch.autograd.grad((h_new, c_new), (z, c_prev), (dy + dh_n, dc_n))

    gates, _, _ = launch_forward_step(x, h, c, w_ih, w_hh, b_ih, b_hh, reverse)
    Cs = torch.stack([c, c_new.detach()])
    if reverse:
        Cs = Cs.flip(0).contiguous()
    dZ = torch.full((1, B, 4 * H), float("nan"))
    dC = dc_n.clone()
    BB, BH, BK, _ = tr.tiles(B, H)
    grid = (triton.cdiv(B, BB), triton.cdiv(H, BH))
    dY = dy[None]
    tr._backward_step[grid](gates[None].contiguous(), Cs, dY, dZ, dC, dh_n, w_hh.contiguous(), 0, 0,
                            B, H, *dY.stride(), REVERSE=reverse, BLOCK_B=BB, BLOCK_H=BH,
                            BLOCK_K=BK, PRECISION="ieee")
    torch.testing.assert_close(dZ[0], dz, **TOL[torch.float32])
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


def test_without_a_gpu_or_interpreter_using_it_is_one_clear_error():
    code = ("import torch, scratch_lstm\n"
            "m = scratch_lstm.LSTM(3, 4, impl='triton')\n"  # constructing is fine
            "try:\n    m(torch.randn(5, 2, 3))\n"
            "except RuntimeError as e:\n    print('RuntimeError:', e)\n")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeError: impl='triton' runs its kernels on a CUDA GPU" in proc.stdout
    assert "use impl='fused'" in proc.stdout


# ---- the real GPU build: compile for an H100 (sm_90) without one --------------------------

H100_SHARED_BYTES = 227 * 1024  # the most shared memory one block may use on sm_90


def test_kernels_build_for_an_h100_without_spilling():
    """Every tile the kernels may use compiles to an sm_90 cubin that fits and does not spill."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "triton_build.py"), "--json"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {(r["block_b"], r["block_h"]) for r in rows} == set(tr.TILES)
    for r in rows:
        assert r["shared_bytes"] <= H100_SHARED_BYTES, r
        assert r["fma_in_ptx"], r  # IEEE fp32 dot: FMAs, not TF32 tensor-core instructions
        assert r["stack_bytes"] is not None, "triton's bundled cuobjdump gave no register report"
        assert r["stack_bytes"] == 0 and r["registers"] <= 255, r


# ---- the CLI with --backend triton ---------------------------------------------------------

def test_train_eval_gates_on_the_triton_backend_in_the_interpreter(tmp_path, capsys, monkeypatch):
    from scratch_lstm.app.cli import main

    # The interpreter runs the programs of a launch one after another: the largest tile keeps the
    # 1,000-image test passes quick (the kernel tests above use the GPU's choice).
    monkeypatch.setattr(tr, "tiles", lambda B, H, device=None: (64, 32, 32, 8))

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
    that still gives each of the 132 multiprocessors a program, 8 warps from 1024 elements."""
    f32 = lambda *s: torch.zeros(*s)  # noqa: E731
    x, h, c, w_ih, w_hh, b = f32(2, 3, 4), f32(3, 5), f32(3, 5), f32(20, 4), f32(20, 5), f32(20)
    assert tr.kernels_cover((x, h, c, w_ih, w_hh, b, b, None))
    assert tr.kernels_cover((x, h, c, w_ih, w_hh, None, None, None))
    assert not tr.kernels_cover((x, h, c, w_ih, w_hh, b, b, f32(2, 5)))  # projection
    assert not tr.kernels_cover((x, h.double(), c, w_ih, w_hh, b, b, None))  # a float64 state
    big = torch.zeros(1, 1).expand(2**20, 2**9)  # B * 4H = 2**31 (a view: no memory)
    assert not tr.kernels_cover((x, big, big, w_ih, w_hh, b, b, None))
    assert tr.tiles(128, 256)[:2] == (16, 16)  # seed: 8 x 16 = 128 programs, no bigger tile fills 132
    assert tr.tiles(1024, 256) == (64, 16, 32, 8)  # batch1024: 16 x 16 = 256 programs
    assert tr.tiles(4096, 1024)[:2] == (64, 32)
    assert [tr.num_warps_for(*t) for t in tr.TILES] == [4, 4, 4, 8, 8, 8]
