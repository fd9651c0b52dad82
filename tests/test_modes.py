"""The mirror holds in every PyTorch mode, for every impl: higher-order gradients, autocast,
torch.func (grad, grad of grad, jacrev, jvp, jacfwd, hessian, vmap), forward-mode AD, batch size 0
and sequence length 0.

torch.nn is the oracle throughout; where nn.LSTM has no such mode (vmap), a Python loop over it is.
"""

import importlib
import re

import pytest
import torch
from conftest import AUTOCAST_TOL, TOL
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import (
    IMPLS,
    assert_autocast_like_nn_lstm,
    assert_cell_autocast_like_nn,
    cases,
    forward,
    layer_tensors,
    make_inputs,
    make_pair,
    run_under_autocast,
)
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap
from torch.nn.utils.rnn import pack_padded_sequence

import scratch_lstm
from scratch_lstm import autocast, autograd
from scratch_lstm.fused import LSTMLayerFunction, fused_lstm_layer

F64 = torch.float64
# The dtype each impl's mode tests run in: float64 for tight equality, but float32 for triton,
# whose kernels compute only float32 (in float64 it would test its fallback, the fused path).
DTYPE = {"scratch": F64, "fused": F64, "triton": torch.float32}

# torch.func.jvp's first call reaches torch code that still calls torch.jit.script: torch's own
# deprecation warning, nothing this package does.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


def leaves_of(case, dtype, gen):
    """Fresh leaf copies of the case's inputs (x, h0, c0; h0/c0 None without hx)."""
    return [None if t is None else t.detach().clone().requires_grad_()
            for t in make_inputs(case, dtype, gen)]


READOUTS = {
    # linear in the outputs: the first gradient does not depend on them, only on the weights
    "linear": lambda outs, cot: sum((o * c).sum() for o, c in zip(outs, cot)),
    "nonlinear": lambda outs, cot: sum((o.sin() * c).sum() + o.pow(2).sum() for o, c in zip(outs, cot)),
}


# ---- higher-order gradients ------------------------------------------------------------------


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=30)
@given(case=cases(max_layers=2))
def test_gradient_penalty_equals_nn_lstm(impl, readout, case):
    """loss + |d loss / d inputs, params|^2, backpropagated: first and second-order terms."""
    dt = DTYPE[impl]
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, dt, impl, gen)
    inputs = make_inputs(case, dt, gen)
    results = []
    for module in (ref, ours):
        x, h0, c0 = (None if t is None else t.detach().clone().requires_grad_() for t in inputs)
        outs = forward(module, case, x, h0, c0)
        cot = torch.Generator().manual_seed(case.seed + 1)
        loss = READOUTS[readout](outs, [torch.randn(o.shape, dtype=dt, generator=cot) for o in outs])
        wrt = [t for t in (x, h0, c0) if t is not None] + list(module.parameters())
        first = torch.autograd.grad(loss, wrt, create_graph=True)
        assert all(g.requires_grad for g in first)  # a first-order-only backward would give False
        (loss + sum(g.pow(2).sum() for g in first)).backward()
        results.append([g.detach() for g in first] + [t.grad for t in wrt])
    for k, (a, e) in enumerate(zip(*reversed(results))):
        torch.testing.assert_close(a, e, **TOL[dt], msg=lambda m, k=k: f"term {k}: {m}\n{case}")


def layer_args(T=3, B=2, I=3, H=3, P=2, bias=True, proj=True, seed=0):
    return layer_tensors(T, B, I, H, P, bias, proj, seed)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("proj", [True, False])
@pytest.mark.parametrize("reverse", [True, False])
def test_gradgradcheck_of_the_fused_function(bias, proj, reverse):
    args = layer_args(bias=bias, proj=proj)
    assert torch.autograd.gradgradcheck(
        lambda *a: LSTMLayerFunction.apply(*a, reverse)[:3], args, eps=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_gradgradcheck_of_the_module(impl):
    torch.manual_seed(0)
    lstm = scratch_lstm.LSTM(2, 2, num_layers=2, bidirectional=True, proj_size=1, dtype=F64, impl=impl)
    params = list(lstm.parameters())
    x = torch.randn(3, 2, 2, dtype=F64, requires_grad=True)

    def f(x, *ps):
        out, (h, c) = functional_call(lstm, dict(zip(dict(lstm.named_parameters()), ps)), (x,))
        return out, h, c

    assert torch.autograd.gradgradcheck(f, (x, *params), eps=1e-6, atol=1e-7)


def test_first_order_backward_stays_hand_derived(monkeypatch):
    """Only a differentiable backward recomputes through the equations; .backward() does not."""
    calls = []
    monkeypatch.setattr(autograd, "backward_through_equations",
                        lambda *a: calls.append(1) or pytest.fail("recomputed"))
    args = layer_args()
    y, h, c = fused_lstm_layer(*args)[0], *fused_lstm_layer(*args)[1]
    (y.sum() + h.sum() + c.sum()).backward()
    assert not calls and all(a.grad is not None for a in args if a is not None)


# ---- autocast --------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=25)
@given(case=cases(max_layers=2))
def test_cpu_autocast_like_nn_lstm(impl, case):
    """nn.LSTM's autocast dtypes, and values as close to float64 as measured (any x86 or ARM CPU:
    the oracle is nn.LSTM in float64, which needs no bfloat16 kernel)."""
    assert_autocast_like_nn_lstm(case, impl, "cpu", torch.bfloat16)


def nn_lstm_bf16_kernel_here() -> bool:
    """Whether nn.LSTM under CPU autocast runs oneDNN's bfloat16 LSTM on this machine (CPUs with
    AVX-512 BF16 or AMX do; AVX2-only CPUs and ONEDNN_MAX_CPU_ISA=AVX2 do not)."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = nn.LSTM(3, 4)(torch.randn(2, 1, 3))
    except RuntimeError:  # "could not create a primitive descriptor for the LSTM forward ..."
        return False
    return out.dtype == torch.bfloat16


@pytest.mark.skipif(not nn_lstm_bf16_kernel_here(),
                    reason="oneDNN has no bfloat16 LSTM on this CPU (nn.LSTM under CPU autocast "
                           "raises or returns float32); the other autocast tests compare with "
                           "nn.LSTM in float64 instead")
@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=15)
@given(case=cases(forms=("batched", "unbatched"), max_layers=2))
def test_cpu_autocast_close_to_nn_lstms_own_bfloat16_kernel(impl, case):
    """Where nn.LSTM's bfloat16 kernel exists, ours and it agree within the sum of their
    measured errors (conftest.py), with nn.LSTM's dtypes (float32 c_n with a projection,
    docs/testing.md "not mirrored")."""
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, torch.float32, impl, gen)
    leaves = make_inputs(case, torch.float32, gen)
    (ref_outs, ref_grads), (our_outs, our_grads) = (
        run_under_autocast(m, case, leaves, "cpu", torch.bfloat16) for m in (ref, ours))
    bf16 = torch.bfloat16
    assert [o.dtype for o in ref_outs] == [bf16, bf16, torch.float32 if case.proj_size else bf16]
    tol = AUTOCAST_TOL[bf16]
    for a, e in zip(our_outs, ref_outs):
        torch.testing.assert_close(a.float(), e.float(), rtol=tol["outputs"], atol=tol["outputs"])
    for a, e in zip(our_grads, ref_grads):
        torch.testing.assert_close(a, e, rtol=tol["grads"], atol=tol["grads"])


@settings(max_examples=40)
@given(
    I=st.integers(1, 6), H=st.integers(1, 6), B=st.integers(1, 4), bias=st.booleans(),
    batched=st.booleans(), seed=st.integers(0, 2**32 - 1),
    x_dtype=st.sampled_from([torch.float32, torch.bfloat16]),
    hx_dtype=st.sampled_from([None, torch.float32, torch.bfloat16]),
)
def test_cell_cpu_autocast_like_nn_lstmcell(I, H, B, bias, batched, seed, x_dtype, hx_dtype):
    assert_cell_autocast_like_nn(I, H, B, bias, batched, x_dtype, hx_dtype, seed, "cpu",
                                 torch.bfloat16)


@pytest.mark.parametrize("impl", IMPLS)
def test_autocast_leaves_a_float64_model_alone(impl):
    torch.manual_seed(0)
    ref = nn.LSTM(3, 4, 2, dtype=F64)
    ours = scratch_lstm.LSTM(3, 4, 2, dtype=F64, impl=impl)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3, dtype=F64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = ref(x), ours(x)
    for a, e in zip((got[0], *got[1]), (expected[0], *expected[1])):
        assert a.dtype == e.dtype == F64
        torch.testing.assert_close(a, e, **TOL[F64])
    cell, ref_cell = scratch_lstm.LSTMCell(3, 4, dtype=F64), nn.LSTMCell(3, 4, dtype=F64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert cell(x[0])[0].dtype == ref_cell(x[0])[0].dtype == F64


@pytest.mark.parametrize("impl", IMPLS)
def test_autocast_accepts_mixed_input_and_state_dtypes_like_nn_lstm(impl):
    """What nn.LSTM accepts under autocast, ours accepts, returning the autocast dtype, close to
    nn.LSTM in float64 (nn.LSTM's own result dtype depends on the CPU's kernels here)."""
    torch.manual_seed(0)
    ref, ours = nn.LSTM(3, 4), scratch_lstm.LSTM(3, 4, impl=impl)
    ours.load_state_dict(ref.state_dict())
    exact = nn.LSTM(3, 4, dtype=F64)
    exact.load_state_dict(ref.state_dict())
    tol = AUTOCAST_TOL[torch.bfloat16]["vs_float64_outputs"]
    for x_dtype, h_dtype, c_dtype in [(torch.bfloat16, torch.float32, torch.float32),
                                      (torch.float32, torch.bfloat16, torch.float32),
                                      (torch.float32, torch.float16, torch.float16)]:
        x = torch.randn(5, 2, 3).to(x_dtype)
        hx = (torch.randn(1, 2, 4).to(h_dtype), torch.randn(1, 2, 4).to(c_dtype))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            try:
                ref(x, hx)  # nn.LSTM accepts these dtypes (its checks pass) ...
            except RuntimeError as e:  # ... unless this CPU's oneDNN has no bfloat16 LSTM at all
                assert "primitive descriptor" in str(e)
            got = ours(x, hx)
        expected = exact(x.double(), tuple(t.double() for t in hx))
        for a, e in zip((got[0], *got[1]), (expected[0], *expected[1])):
            assert a.dtype == torch.bfloat16
            torch.testing.assert_close(a.double(), e, rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", IMPLS)
def test_backward_inside_autocast(impl):
    """A user may call backward() inside the autocast context; the fused backward turns it off.
    The gradients equal nn.LSTM's in float64 (no autocast) within the measured tolerance."""
    torch.manual_seed(0)
    ref, ours = nn.LSTM(3, 4, 2, dtype=F64), scratch_lstm.LSTM(3, 4, 2, impl=impl)
    ours.load_state_dict(ref.state_dict())
    grads = []
    for module, use_autocast in ((ref, False), (ours, True)):
        dtype = next(module.parameters()).dtype
        x = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(1)).to(dtype).requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_autocast):
            out, (h, c) = module(x)
            (out.to(dtype).sum() + c.to(dtype).sum()).backward()
        grads.append([x.grad] + [p.grad for p in module.parameters()])
    tol = AUTOCAST_TOL[torch.bfloat16]["vs_float64_grads"]
    for a, e in zip(grads[1], grads[0]):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), e, rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", IMPLS)
def test_where_nn_lstm_autocast_dtypes_are_not_mirrored(impl):
    """docs/testing.md "not mirrored": on the CPU, nn.LSTM's fallback paths come back (partly) float32.

    Ours always returns the autocast dtype. This asserts nn.LSTM's side, so the list in docs/testing.md
    fails this test if torch changes.
    """
    bf16, f32 = torch.bfloat16, torch.float32
    packed = pack_padded_sequence(torch.randn(5, 2, 3), [5, 3])
    kinds = {  # name: (constructor arguments, input, nn.LSTM's output, h_n, c_n dtypes)
        "projection": (dict(proj_size=2), torch.randn(5, 2, 3), [bf16, bf16, f32]),
        "packed": (dict(), packed, [f32, f32, f32]),
        "batch 0": (dict(), torch.randn(5, 0, 3), [f32, f32, f32]),
        "float16 input": (dict(), torch.randn(5, 2, 3).half(), [f32, f32, f32]),  # grad mode on
    }
    for name, (kwargs, inp, nn_dtypes) in kinds.items():
        torch.manual_seed(0)
        ref, ours = nn.LSTM(3, 4, **kwargs), scratch_lstm.LSTM(3, 4, impl=impl, **kwargs)
        ours.load_state_dict(ref.state_dict())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected, got = ref(inp), ours(inp)
        expected, got = ([getattr(r[0], "data", r[0]), *r[1]] for r in (expected, got))
        assert [o.dtype for o in expected] == nn_dtypes, name
        assert [o.dtype for o in got] == [torch.bfloat16] * 3, name
        for a, e in zip(got, expected):
            tol = AUTOCAST_TOL[torch.bfloat16]["outputs"]
            torch.testing.assert_close(a.float(), e.float(), rtol=tol, atol=tol)


# ---- torch.func ------------------------------------------------------------------------------


def params_of(module):
    return {k: v.detach() for k, v in module.named_parameters()}


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=30)
@given(case=cases(max_layers=2))
def test_func_grad_equals_nn_lstm_autograd(impl, case):
    """torch.func.grad over the parameters, x, h0, c0 equals torch.autograd on nn.LSTM.

    Packed input is packed outside the transform (torch's pack_padded_sequence cannot be
    differentiated under torch.func), so there x itself is not differentiated.
    """
    dt = DTYPE[impl]
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, dt, impl, gen)
    x, h0, c0 = (None if t is None else t.detach() for t in make_inputs(case, dt, gen))
    packed = case.form.startswith("packed")
    if packed:
        x = pack_padded_sequence(x, torch.tensor(case.lengths), batch_first=case.batch_first,
                                 enforce_sorted=case.form == "packed_sorted")
    cots = []

    def loss(module, params, x, h0, c0):
        out, (h, c) = functional_call(module, params, (x, None if h0 is None else (h0, c0)))
        outs = (out.data if packed else out, h, c)
        if not cots:
            cot_gen = torch.Generator().manual_seed(case.seed + 1)
            cots.extend(torch.randn(o.shape, dtype=dt, generator=cot_gen) for o in outs)
        return sum((o.sin() * c).sum() for o, c in zip(outs, cots))

    args = [params_of(ours), x, h0, c0]
    argnums = [k for k in range(4) if args[k] is not None and not (k == 1 and packed)]
    got = grad(lambda *a: loss(ours, *a), argnums=tuple(argnums))(*args)

    args[0] = params_of(ref)
    leaves = [{k: v.requires_grad_() for k, v in args[0].items()}]
    for k in argnums[1:]:
        args[k] = args[k].clone().requires_grad_()
        leaves.append(args[k])
    loss(ref, *args).backward()
    torch.testing.assert_close(got[0], {k: v.grad for k, v in leaves[0].items()}, **TOL[dt])
    for a, leaf in zip(got[1:], leaves[1:]):
        torch.testing.assert_close(a, leaf.grad, **TOL[dt])


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=20)
@given(case=cases(forms=("batched", "unbatched"), max_layers=2))
def test_func_grad_of_grad_equals_nn_lstm_double_backward(impl, case):
    dt = DTYPE[impl]
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, dt, impl, gen)
    x, h0, c0 = make_inputs(case, dt, gen)
    hx = None if h0 is None else (h0.detach(), c0.detach())

    def f(module, x):
        out, (h, c) = module(x, hx)
        return out.sin().sum() + h.pow(2).sum() + c.cos().sum()

    got = grad(lambda x: grad(lambda x: f(ours, x))(x).pow(2).sum())(x.detach())
    xr = x.detach().clone().requires_grad_()
    gx, = torch.autograd.grad(f(ref, xr), xr, create_graph=True)
    expected, = torch.autograd.grad(gx.pow(2).sum(), xr)
    torch.testing.assert_close(got, expected, **TOL[dt])


@pytest.mark.parametrize("impl", IMPLS)
def test_jacrev_and_batched_grads_equal_nn_lstm(impl):
    torch.manual_seed(0)
    ref = nn.LSTM(3, 4, 2, bidirectional=True, proj_size=2, dtype=F64)
    ours = scratch_lstm.LSTM(3, 4, 2, bidirectional=True, proj_size=2, dtype=F64, impl=impl)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 2, 3, dtype=F64)
    expected = torch.autograd.functional.jacobian(lambda x: ref(x)[0], x)
    torch.testing.assert_close(jacrev(lambda x: ours(x)[0])(x), expected, **TOL[F64])
    # is_grads_batched: autograd's own vmap over the backward, a different machinery from jacrev
    xr = x.clone().requires_grad_()
    out = ours(xr)[0]
    basis = torch.eye(out.numel(), dtype=F64).view(-1, *out.shape)
    rows, = torch.autograd.grad(out, xr, basis, is_grads_batched=True)
    torch.testing.assert_close(rows.view(out.shape + x.shape), expected, **TOL[F64])


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=20)
@given(case=cases(forms=("batched", "unbatched"), max_layers=2))
def test_forward_mode_jvp_equals_nn_lstm(impl, case):
    """torch.func.jvp over the input and (h0, c0) gives nn.LSTM's directional derivatives."""
    dt = DTYPE[impl]
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, dt, impl, gen)
    primals = [t.detach() for t in make_inputs(case, dt, gen) if t is not None]
    tangents = [torch.randn(t.shape, dtype=dt, generator=gen) for t in primals]

    def run(module, dtype):
        def f(x, *hx):
            out, (h, c) = module(x, tuple(hx) or None)
            return out, h, c
        cast = lambda ts: tuple(t.to(dtype) for t in ts)  # noqa: E731
        return torch.func.jvp(f, cast(primals), cast(tangents))[1]

    # nn.LSTM has no forward AD on its float32 CPU kernel (oneDNN): the oracle runs in float64
    for a, e in zip(run(ours, dt), run(ref.double(), F64)):
        torch.testing.assert_close(a, e.to(dt), **TOL[dt])


@pytest.mark.parametrize("impl", IMPLS)
def test_jacfwd_hessian_and_forward_ad_equal_nn_lstm(impl):
    torch.manual_seed(0)
    kwargs = dict(num_layers=2, bidirectional=True, proj_size=2, dtype=F64)
    ref, ours = nn.LSTM(3, 4, **kwargs), scratch_lstm.LSTM(3, 4, impl=impl, **kwargs)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 2, 3, dtype=F64)
    expected = torch.autograd.functional.jacobian(lambda x: ref(x)[1][1], x)
    torch.testing.assert_close(torch.func.jacfwd(lambda x: ours(x)[1][1])(x), expected, **TOL[F64])
    expected = torch.autograd.functional.hessian(lambda x: ref(x)[0].sin().sum(), x)
    got = torch.func.hessian(lambda x: ours(x)[0].sin().sum())(x)  # jacfwd of jacrev
    torch.testing.assert_close(got, expected, **TOL[F64])
    tangent = torch.randn_like(x)
    with torch.autograd.forward_ad.dual_level():  # forward AD without torch.func
        out = ours(torch.autograd.forward_ad.make_dual(x, tangent))[0]
        got = torch.autograd.forward_ad.unpack_dual(out).tangent
    expected = torch.func.jvp(lambda x: ref(x)[0], (x,), (tangent,))[1]
    torch.testing.assert_close(got, expected, **TOL[F64])


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=20)
@given(case=cases(forms=("batched", "unbatched"), max_layers=2), N=st.integers(1, 3),
       dim=st.integers(0, 2))
def test_vmap_over_inputs_equals_a_loop_over_nn_lstm(impl, case, N, dim):
    """vmap over x, h0, c0 (nn.LSTM itself has no batching rule): a Python loop is the oracle."""
    dt = DTYPE[impl]
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, dt, impl, gen)
    inputs = [make_inputs(case, dt, gen) for _ in range(N)]
    x, h0, c0 = (None if inputs[0][k] is None else torch.stack([i[k].detach() for i in inputs], dim)
                 for k in range(3))
    run = (lambda x: ours(x)) if h0 is None else (lambda x, h, c: ours(x, (h, c)))
    out, (h_n, c_n) = vmap(run, in_dims=dim)(*(t for t in (x, h0, c0) if t is not None))
    with torch.no_grad():
        expected = [ref(i[0], None if i[1] is None else (i[1], i[2])) for i in inputs]
    for got, e in ((out, [r[0] for r in expected]), (h_n, [r[1][0] for r in expected]),
                   (c_n, [r[1][1] for r in expected])):
        torch.testing.assert_close(got, torch.stack(e), **TOL[dt])


@pytest.mark.parametrize("impl, module, loop", [("fused", "fused", "_forward_loop"),
                                               ("triton", "triton_lstm", "_forward")])
def test_vmap_with_shared_weights_folds_into_the_batch(monkeypatch, impl, module, loop):
    """The vmap rule runs one forward with batch N*B when only the inputs are vmapped (and the
    triton impl runs it on its kernels)."""
    module = importlib.import_module(f"scratch_lstm.{module}")
    batches = []
    forward_loop = getattr(module, loop)
    monkeypatch.setattr(module, loop,
                        lambda x, *a, **k: batches.append(x.size(1)) or forward_loop(x, *a, **k))
    lstm = scratch_lstm.LSTM(3, 4, impl=impl)
    vmap(lambda x: lstm(x)[0])(torch.randn(5, 7, 2, 3))
    assert batches == [5 * 2]


@pytest.mark.parametrize("impl", IMPLS)
def test_vmap_over_weights_equals_a_loop_over_nn_lstm(impl):
    """An ensemble: vmap over stacked parameters (the fused rule loops over the slices)."""
    dt = DTYPE[impl]
    torch.manual_seed(0)
    ref = nn.LSTM(3, 4, 2, bidirectional=True, dtype=dt)
    ours = scratch_lstm.LSTM(3, 4, 2, bidirectional=True, dtype=dt, impl=impl)
    members = [{k: v + 0.1 * n for k, v in params_of(ref).items()} for n in range(3)]
    stacked = {k: torch.stack([m[k] for m in members]) for k in members[0]}
    x = torch.randn(5, 2, 3, dtype=dt)
    got = vmap(lambda p: functional_call(ours, p, (x,))[0])(stacked)
    with torch.no_grad():
        expected = torch.stack([functional_call(ref, m, (x,))[0] for m in members])
    torch.testing.assert_close(got, expected, **TOL[dt])


@pytest.mark.parametrize("impl", IMPLS)
def test_per_sample_gradients_with_vmap_of_grad(impl):
    torch.manual_seed(0)
    ref = nn.LSTM(3, 4, proj_size=2, dtype=F64)
    ours = scratch_lstm.LSTM(3, 4, proj_size=2, dtype=F64, impl=impl)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 3, 3, dtype=F64)

    def loss(params, sample):  # sample (T, I): one sequence, unbatched
        return functional_call(ours, params, (sample,))[0].sin().sum()

    got = vmap(grad(loss), in_dims=(None, 1))(params_of(ours), x)
    for b in range(3):
        ref.zero_grad()
        ref(x[:, b])[0].sin().sum().backward()
        for k, p in ref.named_parameters():
            torch.testing.assert_close(got[k][b], p.grad, **TOL[F64])


# ---- empty inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("grad_mode", [True, False])
@settings(max_examples=10)
@given(case=cases(forms=("batched",), max_layers=2))
def test_batch_size_zero_equals_nn_lstm(impl, grad_mode, case):
    dt = DTYPE[impl]
    case.B, case.lengths = 0, []
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = make_pair(case, dt, impl, gen)
    inputs = make_inputs(case, dt, gen)
    results = []
    for module in (ref, ours):
        leaves = [None if t is None else t.detach().clone().requires_grad_(grad_mode) for t in inputs]
        with torch.set_grad_enabled(grad_mode):
            outs = forward(module, case, *leaves)
        if grad_mode:
            sum(o.sum() for o in outs).backward()
            results.append(list(outs) + [t.grad for t in leaves if t is not None]
                           + [p.grad for p in module.parameters()])
        else:
            results.append(list(outs))
    for a, e in zip(*reversed(results)):
        assert a.shape == e.shape
        torch.testing.assert_close(a.detach(), e.detach(), **TOL[dt])


LENGTH_ZERO = "Expected sequence length to be larger than 0 in RNN"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("shape", [(0, 2, 3), (0, 0, 3), (0, 3)], ids=["batched", "batch0", "unbatched"])
def test_sequence_length_zero_raises_like_nn_lstm(impl, batch_first, shape):
    if len(shape) == 3 and batch_first:
        shape = (shape[1], 0, shape[2])
    x = torch.zeros(shape, requires_grad=True)
    with pytest.raises(RuntimeError, match=LENGTH_ZERO):
        nn.LSTM(3, 4, batch_first=batch_first)(x)
    time_dim = 1 if batch_first and len(shape) == 3 else 0
    message = f"{LENGTH_ZERO}: got input of shape {list(shape)}, whose time dimension (dim {time_dim})"
    with pytest.raises(RuntimeError, match=re.escape(message)):
        scratch_lstm.LSTM(3, 4, batch_first=batch_first, impl=impl)(x)


@pytest.mark.parametrize("layer", ["layer.lstm_layer", "fused.fused_lstm_layer",
                                   "triton_lstm.triton_lstm_layer"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_layer_functions_refuse_length_zero(layer, dtype):
    module, name = layer.split(".")
    layer = getattr(importlib.import_module(f"scratch_lstm.{module}"), name)
    x, *rest = (None if t is None else t.to(dtype) for t in layer_args(proj=False))
    with pytest.raises(RuntimeError, match=LENGTH_ZERO):
        layer(x[:0], *rest)


# ---- the autocast rules themselves (scratch_lstm.autocast) --------------------------------------


def test_autocast_rules():
    bf16, f16, f32, f64 = torch.bfloat16, torch.float16, torch.float32, torch.float64
    assert autocast.autocast_output_dtype("cpu", f32) is None  # autocast off
    assert autocast.autocast_cell_dtype("cpu", f32, f32) is None
    assert not autocast.autocast_accepts(bf16, f32, "cpu")
    assert autocast.autocast_note("cpu") == ""
    with autocast.autocast_disabled("cpu"):
        assert not torch.is_autocast_enabled("cpu")
    with torch.autocast("cpu", dtype=bf16):
        assert autocast.autocast_output_dtype("cpu", f32) is bf16
        assert autocast.autocast_output_dtype("cpu", f16) is bf16
        assert autocast.autocast_output_dtype("cpu", f64) is None  # float64 is left alone
        assert autocast.autocast_cell_dtype("cpu", f32, f32) is f32  # CPU: promoted with c
        assert autocast.autocast_cell_dtype("cpu", f32, bf16) is bf16
        assert autocast.autocast_cell_dtype("cpu", f64, f64) is None
        assert autocast.autocast_accepts(bf16, f32, "cpu") and autocast.autocast_accepts(f16, f32, "cpu")
        assert not autocast.autocast_accepts(f64, f32, "cpu")
        assert not autocast.autocast_accepts(f32, f64, "cpu")
        assert not autocast.autocast_accepts(torch.int64, f32, "cpu")
        assert not autocast.autocast_accepts(bf16, f32, "cuda")  # autocast is on for the CPU only
        assert "never float64" in autocast.autocast_note("cpu")
        with autocast.autocast_disabled("cpu"):
            assert not torch.is_autocast_enabled("cpu")
        assert torch.is_autocast_enabled("cpu")
