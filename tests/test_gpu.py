"""On a CUDA GPU (skipped without one; `benchmarks/gpu_check.sh` runs this module there).

Every impl against cuDNN, both sides in IEEE fp32 (TF32 off: the ``ieee_fp32`` fixture, for every
test), and the benchmark shapes also with both sides in TF32 where the GPU has it; autocast in
float16 and bfloat16 for every impl (the same checks as the CPU ones in tests/test_modes.py, on
the device where nn.LSTM runs cuDNN and nn.LSTMCell's ``lstm_cell`` is on autocast's list);
CUDA-graph replays against eager runs; batches copied from pinned memory; the bench's rows.
"""

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import (
    IMPLS,
    assert_autocast_like_nn_lstm,
    assert_cell_autocast_like_nn,
    assert_same_forward_and_backward,
    cases,
)

import scratch_lstm
from scratch_lstm.precision import fp32_precision, matmul_precision

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

AUTOCAST_DTYPES = [torch.float16, torch.bfloat16]


@pytest.fixture(autouse=True)
def ieee_fp32():
    """cuDNN, cuBLAS and the kernels in full fp32 (TF32 would differ by ~1e-3), restored after."""
    with fp32_precision("ieee"):
        yield


HAS_TF32 = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8
NO_TF32 = "needs a CUDA GPU with TF32 (sm_80 or later)"
PRECISIONS = ["ieee", pytest.param("tf32", marks=pytest.mark.skipif(not HAS_TF32, reason=NO_TF32))]


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=25)
@given(case=cases(max_layers=2))
def test_equals_cudnn_float32(impl, case):
    assert_same_forward_and_backward(case, torch.float32, impl, device="cuda")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", [(28, 128, 28, 256, 2), (784, 16, 1, 128, 1), (28, 1024, 28, 256, 1)],
                         ids=["lecture", "long", "batch1024"])
def test_benchmark_shapes_are_as_accurate_as_cudnn(impl, shape, precision):
    """The benchmark configurations themselves (the long one with a smaller batch, for time).

    Over hundreds of steps and thousands of summed rows, float32 results of two correct
    implementations drift apart by more than the small-shape tolerance, so the oracle here is
    cuDNN in float64: ours, in float32, must be about as close to it as cuDNN in float32 is, both
    in IEEE fp32 or both in TF32 (float64 has no TF32), or within the rounding bound of how the
    numbers are formed (``rounding_bound``), whichever is larger.
    """
    T, B, I, H, K = shape
    torch.manual_seed(0)
    ref = torch.nn.LSTM(I, H, K, batch_first=True, device="cuda")
    x = torch.randn(B, T, I, device="cuda")
    modules = {"cudnn64": ref.double(), "cudnn32": torch.nn.LSTM(I, H, K, batch_first=True, device="cuda"),
               "ours": scratch_lstm.LSTM(I, H, K, batch_first=True, device="cuda", impl=impl)}
    modules["cudnn32"].load_state_dict(ref.state_dict())
    modules["ours"].load_state_dict(ref.state_dict())
    results = {}
    with fp32_precision(precision):
        assert matmul_precision() == precision
        for name, m in modules.items():
            out, (h, c) = m(x.to(next(m.parameters()).dtype))
            (out.square().mean() + h.sum() + c.sum()).backward()
            results[name] = [out, h, c] + [p.grad for p in m.parameters()]

    def error(name, k):
        a, e = results[name][k].double(), results["cudnn64"][k]
        return ((a - e).norm() / e.norm().clamp_min(1e-30)).item()

    bound = rounding_bound(impl, precision, T)
    for k in range(len(results["ours"])):
        ours, cudnn = error("ours", k), error("cudnn32", k)
        assert ours <= max(4 * cudnn, bound), f"tensor {k}: ours {ours:.2e}, cuDNN float32 {cudnn:.2e}"


def rounding_bound(impl: str, precision: str, T: int) -> float:
    """The relative error the arithmetic itself allows, beside "as close as cuDNN".

    - TF32: a product's operands are rounded to 10 mantissa bits, a relative error of up to
      u = 2^-11 (4.9e-4) each. cuDNN's LSTM decides per shape whether it uses TF32 at all (on an
      H200 with torch 2.11 it did at the lecture's shape, and at the 784-step shape stayed at 3e-6,
      full fp32), so "as close as cuDNN" says nothing there; ours must stay within u. Measured on
      that H200: at most 2.4e-4 (triton, 784 steps).
    - IEEE fp32, the teaching path: autograd sums each weight gradient one time step at a time,
      T additions in a row, whose worst-case relative error is T * 2^-24 (4.7e-5 at T = 784);
      cuDNN and the fast paths form it in one matrix product over all T * B rows. Measured on
      that H200: 1.2e-5 at T = 784 (cuDNN 1.1e-6).
    - otherwise 1e-5: float32 rounding a few hundred times over.
    """
    if precision == "tf32":
        return 2.0**-11
    if impl == "scratch":
        return max(1e-5, T * 2.0**-24)
    return 1e-5


def make_classifier_and_adam(backend, seed=0):
    torch.manual_seed(seed)
    model = scratch_lstm.LSTMClassifier(28, 64, num_layers=2, backend=backend, device="cuda")
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(1e-3, device="cuda"), capturable=True)
    return model, opt


def batches(n, sizes=None, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for k in range(n):
        B = sizes[k] if sizes else 32
        yield (torch.randn(B, 28, 28, generator=gen).cuda(),
               torch.randint(0, 10, (B,), generator=gen).cuda())


@pytest.mark.parametrize("backend", ["triton", "fused"])
def test_cuda_graph_training_step_equals_eager(backend):
    """Replays of the recorded step (forward, backward, Adam) train exactly as eager steps do,
    including a batch of another size in between (run eagerly) and a learning-rate change."""
    from scratch_lstm.app.cuda_graphs import CUDAGraphStep

    def stepper(model, opt):
        def step(x, y):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.detach()
        return step

    sizes = [32] * 6 + [7] + [32] * 3
    runs = []
    for graphed in (False, True):
        model, opt = make_classifier_and_adam(backend)
        step = stepper(model, opt)
        if graphed:
            step = CUDAGraphStep(step, warmup=2)
        losses = []
        for k, (x, y) in enumerate(batches(len(sizes), sizes)):
            if k == 8:
                opt.param_groups[0]["lr"].fill_(3e-4)  # in place: the graph reads the tensor
            losses.append(step(x, y).item())
        runs.append((losses, [p.detach().clone() for p in model.parameters()], step))
    (eager_losses, eager_params, _), (graph_losses, graph_params, graph_step) = runs
    assert graph_step.replays >= 5  # recorded at the 3rd full batch, replayed after
    assert graph_losses == pytest.approx(eager_losses, rel=1e-6, abs=1e-6)
    for a, e in zip(graph_params, eager_params):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def test_cuda_graph_capture_failure_falls_back_and_says_so():
    from scratch_lstm.app.cuda_graphs import CUDAGraphStep

    said = []
    step = CUDAGraphStep(lambda x: x * float(x.sum().item()), warmup=0, on_fallback=said.append)
    x = torch.ones(3, device="cuda")
    assert torch.equal(step(x), x * 3) and torch.equal(step(x), x * 3)
    assert len(said) == 1 and "CUDA graph capture failed" in said[0] and step.replays == 0
    # the failed capture leaves the random stream usable, and where it was (weight init, dropout)
    state = torch.cuda.get_rng_state()
    a = torch.rand(4, device="cuda")
    torch.cuda.set_rng_state(state)
    assert torch.equal(torch.rand(4, device="cuda"), a)
    torch.nn.LSTM(3, 4, device="cuda")


def test_train_command_on_cuda_with_graphs_matches_eager(tmp_path):
    """`scratch-lstm train --backend triton` on CUDA: the graphed run logs the same epochs as an
    eager one (same seed, same data)."""
    from scratch_lstm.app.cli import main

    common = ["train", "--dataset", "mnist-sample", "--backend", "triton", "--device", "cuda",
              "--hidden-size", "32", "--num-layers", "2", "--epochs", "2", "--train-subset", "640",
              "--batch-size", "64", "--log-every", "0"]
    metrics = []
    for graph in ("auto", "off"):
        out = tmp_path / graph
        assert main([*common, "--cuda-graph", graph, "--out", str(out)]) == 0
        metrics.append([json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()])
    for a, e in zip(*metrics):
        assert a["train_loss"] == pytest.approx(e["train_loss"], rel=1e-5)
        assert a["test_acc"] == pytest.approx(e["test_acc"], abs=2e-3)


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=10)
@given(case=cases(forms=("batched", "unbatched"), max_layers=2))
def test_cuda_autocast_like_nn_lstm(impl, dtype, case):
    assert_autocast_like_nn_lstm(case, impl, "cuda", dtype)


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@settings(max_examples=20)
@given(
    I=st.integers(1, 6), H=st.integers(1, 6), B=st.integers(1, 4), bias=st.booleans(),
    batched=st.booleans(), seed=st.integers(0, 2**32 - 1),
    x_dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
    hx_dtype=st.sampled_from([None, torch.float32]),
)
def test_cell_cuda_autocast_like_nn_lstmcell(dtype, I, H, B, bias, batched, seed, x_dtype, hx_dtype):
    assert_cell_autocast_like_nn(I, H, B, bias, batched, x_dtype, hx_dtype, seed, "cuda", dtype)


def test_batches_come_from_pinned_memory_and_equal_the_cpu_ones():
    from scratch_lstm.app.data import Batches, to_device

    images = torch.randint(0, 256, (70, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (70,))
    cpu = list(Batches(images, labels, 32))
    cuda = list(Batches(images, labels, 32, device="cuda"))
    torch.cuda.synchronize()
    for (x, y), (xc, yc) in zip(cpu, cuda):
        assert xc.is_cuda and torch.equal(x, xc.cpu()) and torch.equal(y, yc.cpu())
    moved = to_device(torch.ones(3), "cuda")
    assert moved.is_cuda and torch.equal(moved.cpu(), torch.ones(3))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_bench_rows_say_how_ours_ran_and_in_which_precision(precision):
    """The triton impl gets a graphed row and an eager one; both sides in the asked precision."""
    from scratch_lstm.app.bench import BenchConfig, _graph_settings, bench_config

    device = torch.device("cuda")
    cfg = BenchConfig("tiny", 8, 5, 3, 16, 1)
    rows = [bench_config(cfg, "triton", device, repeats=2, warmup=1, cuda_graph=g, precision=precision)
            for g in _graph_settings("triton", "triton", device)]
    assert [(r["runs"], r["precision"]) for r in rows] == [("graph", precision), ("eager", precision)]
    assert matmul_precision() == "ieee"  # restored (the fixture's setting)
