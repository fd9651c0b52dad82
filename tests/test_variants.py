"""The LSTM's variants, the plain RNN and the GRU: each step against a hand computation,
RNN and GRU against nn.RNN and nn.GRU, the closed-form counts, and the clamps (lesions)."""

import math

import pytest
import torch
from conftest import TOL
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import INPUT_FORMS, cases, make_inputs
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import scratch_lstm
from scratch_lstm import (
    GRU,
    LSTM,
    RNN,
    VARIANTS,
    GateClamp,
    LSTMClassifier,
    gru_num_parameters,
    gru_step,
    lstm_num_parameters,
    lstm_step,
    rnn_num_parameters,
    rnn_step,
    trace_gates,
    variant_step,
)
from scratch_lstm.variants import (
    cifg_step,
    nfg_step,
    niaf_step,
    nig_step,
    noaf_step,
    nog_step,
    peephole_step,
    vanilla_step,
)

F64 = TOL[torch.float64]
STEPS = {"vanilla": vanilla_step, "nig": nig_step, "nfg": nfg_step, "nog": nog_step, "niaf": niaf_step,
         "noaf": noaf_step, "cifg": cifg_step, "peephole": peephole_step}


def test_every_variant_is_listed_with_its_step():
    assert list(VARIANTS) == list(STEPS)
    for name, v in VARIANTS.items():
        assert v.step is STEPS[name] and v.text and v.step.__doc__
    assert {n: v.unused_gates for n, v in VARIANTS.items() if v.unused_gates} == {
        "nig": ("i",), "nfg": ("f",), "nog": ("o",), "cifg": ("i",)}
    assert {n: v.added for n, v in VARIANTS.items() if v.added} == {
        "peephole": ("weight_ci", "weight_cf", "weight_co")}


# ---- one step, by hand ------------------------------------------------------------------------------

def one_step_inputs(B, I, H, P, bias, seed):
    """x, h_prev, c_prev, the weights, the peepholes and the four pre-activations by hand, float64."""
    gen = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=gen)

    x, h, c = r(B, I), r(B, P or H), r(B, H)
    w_ih, w_hh = r(4 * H, I), r(4 * H, P or H)
    b_ih, b_hh = (r(4 * H), r(4 * H)) if bias else (None, None)
    w_hr = r(P, H) if P else None
    peep = {"w_ci": r(H), "w_cf": r(H), "w_co": r(H)}
    z = {}
    for k, gate in enumerate("ifgo"):  # z_gate = W_i* x + b_i* + W_h* h + b_h*, one block of rows at a time
        rows = slice(k * H, (k + 1) * H)
        z[gate] = x @ w_ih[rows].T + h @ w_hh[rows].T
        if bias:
            z[gate] = z[gate] + b_ih[rows] + b_hh[rows]
    return (x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr), peep, z


def expected_step(variant, c_prev, z, peep):
    """The variant's equations, written out gate by gate."""
    sig, tanh = torch.sigmoid, torch.tanh
    i, f, g, o = sig(z["i"]), sig(z["f"]), tanh(z["g"]), sig(z["o"])
    if variant == "nig":
        i = torch.ones_like(i)
    if variant == "nfg":
        f = torch.ones_like(f)
    if variant == "nog":
        o = torch.ones_like(o)
    if variant == "niaf":
        g = z["g"]
    if variant == "cifg":
        i = 1 - f
    if variant == "peephole":
        i, f = sig(z["i"] + peep["w_ci"] * c_prev), sig(z["f"] + peep["w_cf"] * c_prev)
    c = f * c_prev + i * g
    if variant == "peephole":
        o = sig(z["o"] + peep["w_co"] * c)
    h = o * c if variant == "noaf" else o * tanh(c)
    return i, f, g, o, c, h


@pytest.mark.parametrize("variant", list(VARIANTS))
@settings(max_examples=25)
@given(B=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(2, 6), project=st.booleans(),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_each_step_equals_its_equations_by_hand(variant, B, I, H, project, bias, seed):
    P = H - 1 if project else 0
    args, peep, z = one_step_inputs(B, I, H, P, bias, seed)
    step = STEPS[variant](*args, **(peep if variant == "peephole" else {}))
    want = expected_step(variant, args[2], z, peep)
    for name, a, e in zip("ifgoch", step[:6], want):
        torch.testing.assert_close(a, e, **F64, msg=lambda m, name=name: f"{variant} {name}: {m}")
    if P:
        torch.testing.assert_close(step.h_proj, step.h @ args[7].T, **F64)
        assert step.state is step.h_proj
    else:
        assert step.h_proj is None and step.state is step.h


def test_the_defining_identities_hold_exactly():
    """Not to a tolerance: NFG's cell only adds, CIFG's input gate is 1 - f, and so on."""
    args, peep, _ = one_step_inputs(3, 4, 5, 0, True, seed=7)
    c_prev = args[2]
    s = nfg_step(*args)
    assert torch.equal(s.f, torch.ones_like(s.f)) and torch.equal(s.c, c_prev + s.i * s.g)
    s = cifg_step(*args)
    assert torch.equal(s.i, 1 - s.f)
    s = nig_step(*args)
    assert torch.equal(s.i, torch.ones_like(s.i)) and torch.equal(s.c, s.f * c_prev + s.g)
    s = nog_step(*args)
    assert torch.equal(s.o, torch.ones_like(s.o)) and torch.equal(s.h, torch.tanh(s.c))
    s = noaf_step(*args)
    assert torch.equal(s.h, s.o * s.c)
    assert (niaf_step(*args).g.abs() > 1).any()  # no tanh: the candidate leaves (-1, 1)
    s = peephole_step(*args, **{k: torch.zeros_like(v) for k, v in peep.items()})
    for a, b in zip(s, vanilla_step(*args)):  # zero peepholes: the vanilla cell
        assert a is b is None or torch.equal(a, b)


@settings(max_examples=40)
@given(B=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(2, 6), project=st.booleans(),
       bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_vanilla_is_lstm_step(B, I, H, project, bias, seed):
    args, _, _ = one_step_inputs(B, I, H, H - 1 if project else 0, bias, seed)
    assert variant_step("vanilla") is lstm_step  # the model runs lstm_step itself
    for a, b in zip(vanilla_step(*args), lstm_step(*args)):  # the held form, bit for bit
        assert a is b is None or torch.equal(a, b)


def test_vanilla_lstm_runs_the_fast_paths_and_is_the_default():
    assert LSTM(3, 4).variant == "vanilla" and LSTM(3, 4).cells() is None
    torch.manual_seed(0)
    a = LSTM(3, 4, 2, impl="fused")
    torch.manual_seed(0)
    b = LSTM(3, 4, 2, variant="vanilla", impl="fused")
    x = torch.randn(5, 2, 3)
    assert torch.equal(a(x)[0], b(x)[0])


def test_rnn_and_gru_steps_by_hand():
    gen = torch.Generator().manual_seed(3)
    x, h = torch.randn(2, 3, dtype=torch.float64, generator=gen), torch.randn(2, 4, dtype=torch.float64,
                                                                               generator=gen)
    w_ih, w_hh = torch.randn(12, 3, dtype=torch.float64, generator=gen), torch.randn(12, 4, dtype=torch.float64,
                                                                                      generator=gen)
    b_ih, b_hh = torch.randn(12, dtype=torch.float64, generator=gen), torch.randn(12, dtype=torch.float64,
                                                                                   generator=gen)
    W = lambda w, k: w[4 * k : 4 * k + 4]  # noqa: E731  rows of gate k
    torch.testing.assert_close(rnn_step(x, h, W(w_ih, 0), W(w_hh, 0), W(b_ih, 0), W(b_hh, 0)),
                               torch.tanh(x @ W(w_ih, 0).T + W(b_ih, 0) + h @ W(w_hh, 0).T + W(b_hh, 0)), **F64)
    torch.testing.assert_close(rnn_step(x, h, W(w_ih, 0), W(w_hh, 0), nonlinearity="relu"),
                               torch.relu(x @ W(w_ih, 0).T + h @ W(w_hh, 0).T), **F64)
    s = gru_step(x, h, w_ih, w_hh, b_ih, b_hh)
    part = lambda k: (x @ W(w_ih, k).T + W(b_ih, k), h @ W(w_hh, k).T + W(b_hh, k))  # noqa: E731
    r = torch.sigmoid(sum(part(0)))
    z = torch.sigmoid(sum(part(1)))
    n = torch.tanh(part(2)[0] + r * part(2)[1])
    for a, e in zip(s, (r, z, n, (1 - z) * n + z * h)):
        torch.testing.assert_close(a, e, **F64)
    assert s.state is s.h
    assert s._fields == ("r", "u", "n", "h") and s.z is s.u  # the update gate u, under nn.GRU's name z too


# ---- LSTM(variant=...) ------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_variant_lstm_runs_its_step_in_every_layer_and_direction(variant):
    torch.manual_seed(0)
    lstm = LSTM(3, 5, 2, bidirectional=True, proj_size=2, dtype=torch.float64, variant=variant)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    traces = trace_gates(lstm, x)
    out, (h_n, _) = lstm(x)
    for rec in traces:  # every step of every layer-direction obeys the variant
        if variant in ("nig", "nfg", "nog"):
            gate = {"nig": rec.i, "nfg": rec.f, "nog": rec.o}[variant]
            assert torch.equal(gate, torch.ones_like(gate))
        if variant == "cifg":
            assert torch.equal(rec.i, 1 - rec.f)
        if variant == "noaf":
            assert torch.equal(rec.h, rec.o * rec.c)
    top = torch.cat([traces[-2].h_proj, traces[-1].h_proj], dim=-1)
    torch.testing.assert_close(out, top, **F64)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_keep_nn_lstms_layout_and_draw(variant):
    """nn.LSTM's parameters in its order and, for a seed, its values; peepholes after them all."""
    cfg = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, proj_size=2)
    torch.manual_seed(5)
    ref = nn.LSTM(**cfg)
    torch.manual_seed(5)
    ours = LSTM(**cfg, variant=variant)
    names = [n for n, _ in ours.named_parameters()]
    ref_names = [n for n, _ in ref.named_parameters()]
    assert names[: len(ref_names)] == ref_names
    for n, p in ref.named_parameters():
        assert torch.equal(getattr(ours, n), p), n
    added = names[len(ref_names):]
    assert added == [f"{base}{sfx}" for sfx in ("_l0", "_l0_reverse", "_l1", "_l1_reverse")
                     for base in VARIANTS[variant].added]
    assert all(getattr(ours, n).shape == (4,) and getattr(ours, n).abs().max() <= 0.5 for n in added)
    missing = ours.load_state_dict(ref.state_dict(), strict=False).missing_keys
    assert missing == added
    if not added:  # the same parameters: strict both ways
        ours.load_state_dict(ref.state_dict(), strict=True)
        ref.load_state_dict(ours.state_dict(), strict=True)
    assert (f"variant={variant!r}" in repr(ours)) == (variant != "vanilla")


@st.composite
def lstm_configs(draw):
    hidden = draw(st.integers(1, 12))
    return dict(input_size=draw(st.integers(1, 12)), hidden_size=hidden, num_layers=draw(st.integers(1, 3)),
                bias=draw(st.booleans()), bidirectional=draw(st.booleans()),
                proj_size=draw(st.integers(0, hidden - 1)))


@settings(max_examples=40, deadline=None)
@given(cfg=lstm_configs(), variant=st.sampled_from(list(VARIANTS)), seed=st.integers(0, 2**31))
def test_counts_equal_the_closed_forms(cfg, variant, seed):
    """Every registered parameter is counted; with used_only, exactly the entries that get a gradient."""
    lstm = LSTM(**cfg, variant=variant, dtype=torch.float64)
    assert lstm_num_parameters(**cfg, variant=variant) == sum(p.numel() for p in lstm.parameters())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in lstm.parameters():
            p.uniform_(-1, 1, generator=gen)
    D, P = 1 + cfg["bidirectional"], cfg["proj_size"] or cfg["hidden_size"]
    x = torch.randn(3, 2, cfg["input_size"], dtype=torch.float64, generator=gen)
    hx = (torch.randn(cfg["num_layers"] * D, 2, P, dtype=torch.float64, generator=gen),
          torch.randn(cfg["num_layers"] * D, 2, cfg["hidden_size"], dtype=torch.float64, generator=gen))
    out, (h_n, c_n) = lstm(x, hx)
    (out.sin().sum() + h_n.cos().sum() + c_n.sin().sum()).backward()
    reached = sum(int((p.grad != 0).sum()) for p in lstm.parameters())
    assert reached == lstm_num_parameters(**cfg, variant=variant, used_only=True)


@settings(max_examples=60)
@given(cfg=lstm_configs())
def test_rnn_and_gru_counts_equal_the_closed_forms(cfg):
    cfg.pop("proj_size")
    for ours, theirs, count in ((RNN, nn.RNN, rnn_num_parameters), (GRU, nn.GRU, gru_num_parameters)):
        n = count(**cfg)
        assert n == sum(p.numel() for p in ours(**cfg).parameters()) == sum(
            p.numel() for p in theirs(**cfg).parameters())
    assert 4 * rnn_num_parameters(**cfg) == lstm_num_parameters(**cfg) == 4 * gru_num_parameters(**cfg) // 3


def test_bad_variants_are_clear_errors():
    with pytest.raises(ValueError, match=r"variant must be one of \('vanilla', 'nig'.*got 'NFG'"):
        LSTM(3, 4, variant="NFG")
    for impl in ("fused", "triton"):
        with pytest.raises(ValueError, match=f"variant='nfg' runs on the teaching path only.*got impl='{impl}'"):
            LSTM(3, 4, impl=impl, variant="nfg")
    with pytest.raises(ValueError, match="variant must be one of"):
        lstm_num_parameters(3, 4, variant="gru")
    with pytest.raises(ValueError, match="peepholes are the weights of variant 'peephole' only"):
        variant_step("peephole")
    with pytest.raises(ValueError, match="peepholes are the weights of variant 'peephole' only"):
        variant_step("nfg", peepholes=(torch.zeros(2),) * 3)


# ---- RNN and GRU against nn.RNN and nn.GRU ----------------------------------------------------------

PAIRS = {"rnn": (RNN, nn.RNN), "rnn-relu": (RNN, nn.RNN), "gru": (GRU, nn.GRU)}


def rnn_pair(kind, case, dtype, gen):
    ours_cls, ref_cls = PAIRS[kind]
    kwargs = case.module_kwargs()
    kwargs.pop("proj_size")
    if kind == "rnn-relu":
        kwargs["nonlinearity"] = "relu"
    ref = ref_cls(**kwargs, dtype=dtype)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-0.8, 0.8, generator=gen)
    ours = ours_cls(**kwargs, dtype=dtype)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ref, ours


def assert_rnn_like_torch(kind, case, dtype=torch.float64):
    """Outputs, h_n and every gradient (input, h_0, parameters) equal torch.nn's."""
    case.proj_size = 0
    gen = torch.Generator().manual_seed(case.seed)
    ref, ours = rnn_pair(kind, case, dtype, gen)
    x0, h0, _ = make_inputs(case, dtype, gen)
    results = []
    for module in (ref, ours):
        x = x0.detach().clone().requires_grad_()
        h = None if h0 is None else h0.detach().clone().requires_grad_()
        inp = x
        if case.form.startswith("packed"):
            inp = pack_padded_sequence(x, torch.tensor(case.lengths), batch_first=case.batch_first,
                                       enforce_sorted=case.form == "packed_sorted")
        out, h_n = module(inp, h)
        out = out.data if case.form.startswith("packed") else out
        cot = torch.Generator().manual_seed(case.seed + 1)
        loss = sum((o * torch.randn(o.shape, dtype=dtype, generator=cot)).sum() for o in (out, h_n))
        loss.backward()
        grads = [t.grad for t in (x, h) if t is not None] + [p.grad for p in module.parameters()]
        results.append(((out.detach(), h_n.detach()), grads))
    (ref_outs, ref_grads), (our_outs, our_grads) = results
    for name, a, e in zip(("output", "h_n"), our_outs, ref_outs):
        torch.testing.assert_close(a, e, **TOL[dtype], msg=lambda m, name=name: f"{kind} {name}: {m}\n{case}")
    assert len(our_grads) == len(ref_grads)
    for k, (a, e) in enumerate(zip(our_grads, ref_grads)):
        torch.testing.assert_close(a, e, **TOL[dtype], msg=lambda m, k=k: f"{kind} grad {k}: {m}\n{case}")


@pytest.mark.parametrize("kind", list(PAIRS))
@settings(max_examples=60)
@given(case=cases())
def test_rnn_and_gru_equal_torch_float64(kind, case):
    assert_rnn_like_torch(kind, case)


@pytest.mark.parametrize("form", INPUT_FORMS)
@pytest.mark.parametrize("kind", list(PAIRS))
@settings(max_examples=8)
@given(case=cases(forms=("batched",)))
def test_rnn_and_gru_each_input_form(kind, form, case):
    case.form = form
    if form == "unbatched":
        case.B, case.lengths = 1, [case.T]
    if form == "packed_sorted":
        case.lengths.sort(reverse=True)
    assert_rnn_like_torch(kind, case)


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_rnn_and_gru_float32_and_the_same_draw(kind):
    ours_cls, ref_cls = PAIRS[kind]
    torch.manual_seed(11)
    ref = ref_cls(5, 7, 2, bidirectional=True)
    torch.manual_seed(11)
    ours = ours_cls(5, 7, 2, bidirectional=True)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), ref.parameters()))
    assert all(p.abs().max() <= 1 / math.sqrt(7) for p in ours.parameters())
    x = torch.randn(6, 3, 5)
    for a, e in zip(ours(x), ref(x)):
        torch.testing.assert_close(a, e, **TOL[torch.float32])
    assert repr(ours) == repr(ref)


def test_rnn_and_gru_dropout_acts_between_layers_as_torchs():
    """p = 1 drops every element, so training mode is deterministic and comparable."""
    for ours_cls, ref_cls in (PAIRS["rnn"], PAIRS["gru"]):
        torch.manual_seed(0)
        ref = ref_cls(4, 6, 3, dropout=1.0, dtype=torch.float64)
        ours = ours_cls(4, 6, 3, dropout=1.0, dtype=torch.float64)
        ours.load_state_dict(ref.state_dict())
        x = torch.randn(5, 2, 4, dtype=torch.float64)
        for a, e in zip(ours.train()(x), ref.train()(x)):
            torch.testing.assert_close(a, e, **F64)
        assert not torch.equal(ours.train()(x)[0], ours.eval()(x)[0])


def test_rnn_and_gru_errors_say_what_came():
    x = torch.zeros(5, 3, 4)
    for cls in (RNN, GRU):
        with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
            cls(4, 6, proj_size=2)
        with pytest.raises(TypeError, match=f"{cls.__name__}: hx must be one Tensor h_0.*no cell state"):
            cls(4, 6)(x, (torch.zeros(1, 3, 6), torch.zeros(1, 3, 6)))
        with pytest.raises(RuntimeError, match=r"Expected hx \(h_0\) size \(1, 3, 6\).*got \[1, 2, 6\]"):
            cls(4, 6)(x, torch.zeros(1, 2, 6))
        with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but got 2-D"):
            cls(4, 6)(x, torch.zeros(3, 6))
        with pytest.raises(RuntimeError, match="Expected 4, got 5"):
            cls(4, 6)(torch.zeros(5, 3, 5))
        with pytest.raises(ValueError, match=f"{cls.__name__}: Expected input to be 2D"):
            cls(4, 6)(torch.zeros(5))
        with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
            cls(4, 0)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'."):
        RNN(4, 6, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(4, 6, nonlinearity="sigmoid")  # the same words as torch's


# ---- clamps -----------------------------------------------------------------------------------------

def lstm_and_twin(variant, impl="scratch", **cfg):
    """A vanilla LSTM with random weights, and the variant on the same weights (teaching path)."""
    torch.manual_seed(1)
    lstm = LSTM(3, 6, 2, dtype=torch.float64, impl=impl, **cfg)
    twin = LSTM(3, 6, 2, dtype=torch.float64, variant=variant, **cfg)
    twin.load_state_dict(lstm.state_dict(), strict=True)
    return lstm, twin


@pytest.mark.parametrize("gate, variant", [("f", "nfg"), ("i", "nig"), ("o", "nog")])
@pytest.mark.parametrize("impl", ["scratch", "fused"])
def test_a_clamp_on_every_unit_is_its_variant(gate, variant, impl):
    lstm, twin = lstm_and_twin(variant, bidirectional=True, impl=impl)
    x = torch.randn(7, 3, 3, dtype=torch.float64)
    clamps = [GateClamp(gate, 1.0)]
    out, (h_n, c_n) = lstm(x, clamps=clamps)
    want, (want_h, want_c) = twin(x)
    assert torch.equal(out, want) and torch.equal(h_n, want_h) and torch.equal(c_n, want_c)
    for a, b in zip(trace_gates(lstm, x, clamps=clamps), trace_gates(twin, x)):
        for name in "ifgoch":
            assert torch.equal(a[name], b[name]), name
    assert not torch.equal(lstm(x)[0], out)  # the lesion changed something


def test_clamps_hold_only_the_layer_and_units_asked_for():
    lstm, _ = lstm_and_twin("vanilla")
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    free = trace_gates(lstm, x)
    held = trace_gates(lstm, x, clamps=[GateClamp("f", 0.25, layer=1, units=[0, 4]),
                                        GateClamp("h", 0.0, layer=1, units=[2])])
    for name in "ifgoch":  # layer 0 is untouched
        assert torch.equal(held[0][name], free[0][name])
    assert (held[1].f[..., [0, 4]] == 0.25).all()
    w = scratch_lstm.gate_weights(lstm, layer=1)  # the other units' f, from layer 1's own inputs
    h_prev = torch.cat([torch.zeros_like(held[1].h[:1]), held[1].h[:-1]])  # h_{t-1}, h_{-1} = 0
    f = torch.sigmoid(free[0].h @ w["W_if"].T + w["b_if"] + h_prev @ w["W_hf"].T + w["b_hf"])
    torch.testing.assert_close(held[1].f[..., [1, 2, 3, 5]], f[..., [1, 2, 3, 5]], **F64)
    assert (held[1].h[..., 2] == 0).all() and (held[1].h[..., [0, 1]] != 0).all()
    out, _ = lstm(x, clamps=[GateClamp("h", 0.0, layer=1, units=[2])])
    assert (out[..., 2] == 0).all()  # the silenced unit's output
    c_prev = torch.cat([torch.zeros_like(held[1].c[:1]), held[1].c[:-1]])
    torch.testing.assert_close(held[1].c, held[1].f * c_prev + held[1].i * held[1].g, **F64)


def test_clamped_g_and_cifg_follow_the_held_gates():
    lstm, twin = lstm_and_twin("cifg")
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    (rec, _) = trace_gates(twin, x, clamps=[GateClamp("f", 0.3)])
    assert torch.allclose(rec.i, torch.full_like(rec.i, 0.7))  # i = 1 - f, from the held f
    (rec, _) = trace_gates(lstm, x, clamps=[GateClamp("g", -1.0, layer=0)])
    assert (rec.g == -1).all()


def test_a_peephole_lstm_can_be_clamped():
    lstm = LSTM(3, 4, variant="peephole", dtype=torch.float64)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    (rec,) = trace_gates(lstm, x, clamps=[GateClamp("o", 1.0)])
    assert (rec.o == 1).all() and torch.equal(rec.h, torch.tanh(rec.c))


def test_the_classifier_passes_clamps_on():
    torch.manual_seed(0)
    model = LSTMClassifier(28, 8, num_layers=2, dtype=torch.float64).eval()
    twin = LSTMClassifier(28, 8, num_layers=2, dtype=torch.float64)
    twin.rnn = LSTM(28, 8, 2, batch_first=True, variant="nfg", dtype=torch.float64)
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(3, 28, 28, dtype=torch.float64)
    assert torch.equal(model(x, clamps=[GateClamp("f", 1)]), twin.eval()(x))
    assert not torch.equal(model(x, clamps=[GateClamp("f", 1)]), model(x))
    torch_model = LSTMClassifier(28, 8, backend="torch")
    with pytest.raises(ValueError, match="backend 'torch' is nn.LSTM, whose gates cannot be held"):
        torch_model(x.float(), clamps=[GateClamp("f", 1)])


@pytest.mark.parametrize("args, error, match", [
    (("x", 1), ValueError, "gate must be one of i, f, g, o, h, got 'x'"),
    (("f", 1.5), ValueError, r"f is a sigmoid gate: its clamp value must be in \[0, 1\], got 1.5"),
    (("o", -0.1), ValueError, r"must be in \[0, 1\]"),
    (("g", -2), ValueError, r"g is a tanh: its clamp value must be in \[-1, 1\], got -2"),
    (("h", float("nan")), ValueError, r"must be in \[-1, 1\], got nan"),
    (("f", True), TypeError, "value must be a number, got bool"),
    (("f", "1"), TypeError, "value must be a number, got str"),
    (("f", 1, -1), ValueError, "layer must be None .* or an integer >= 0, got -1"),
    (("f", 1, 0.5), ValueError, "layer must be None"),
    (("f", 1, None, []), ValueError, r"units must be unit indices >= 0 \(at least one\), got \[\]"),
    (("f", 1, None, [3, -1]), ValueError, r"got \[3, -1\]"),
    (("f", 1, None, [1.5]), ValueError, "units must be unit indices"),
    (("f", 1, None, "3"), TypeError, "units must be None .* or a sequence of unit indices, got str"),
    (("f", 1, None, 3), TypeError, "got int"),
])
def test_bad_clamps_say_what_was_expected(args, error, match):
    with pytest.raises(error, match=match):
        GateClamp(*args)


def test_clamps_are_checked_against_the_model():
    lstm = LSTM(3, 6, 2)
    x = torch.randn(4, 2, 3)
    with pytest.raises(ValueError, match=r"clamp f=1@2: layer 2 does not exist; the LSTM has 2 layer\(s\), 0 to 1"):
        lstm(x, clamps=[GateClamp("f", 1, layer=2)])
    with pytest.raises(ValueError, match="clamp h=0:3,6: unit 6 does not exist; the LSTM has 6 units per layer"):
        lstm(x, clamps=[GateClamp("h", 0, units=[6, 3])])
    with pytest.raises(TypeError, match=r"clamps must be scratch_lstm.GateClamp objects, got str; parse the text "
                                        r"with GateClamp.parse\('f=1'\)"):
        lstm(x, clamps=["f=1"])
    with pytest.raises(TypeError, match="clamps must be a sequence of scratch_lstm.GateClamp, got str"):
        lstm(x, clamps="f=1")
    assert torch.equal(lstm(x, clamps=GateClamp("f", 1))[0], lstm(x, clamps=[GateClamp("f", 1)])[0])


@pytest.mark.parametrize("text, clamp", [
    ("f=1", GateClamp("f", 1.0)),
    ("i=0", GateClamp("i", 0.0)),
    ("h=0@1", GateClamp("h", 0.0, 1)),
    ("o=0.5:7", GateClamp("o", 0.5, None, (7,))),
    ("f=1@0:3,7,9", GateClamp("f", 1.0, 0, (3, 7, 9))),
    ("g=-1@1:0-3,9", GateClamp("g", -1.0, 1, (0, 1, 2, 3, 9))),
    ("f=1:5,2,2", GateClamp("f", 1.0, None, (2, 5))),
])
def test_the_clamp_syntax(text, clamp):
    assert GateClamp.parse(text) == clamp
    assert GateClamp.parse(str(clamp)) == clamp


@pytest.mark.parametrize("text, match", [
    ("f", r"expected GATE=VALUE\[@LAYER\]\[:UNITS\]"),
    ("=1", "expected GATE=VALUE"),
    ("q=1", "the gate must be one of i, f, g, o, h"),
    ("f=one", "the value after f= must be a number"),
    ("f=2", r"must be in \[0, 1\], got 2.0"),
    ("f=1@", "the layer after @ must be an integer >= 0"),
    ("f=1@-1", "the layer after @ must be an integer >= 0"),
    ("f=1:", "the units after : must be indices or ranges a-b"),
    ("f=1:3,,4", "the units after : must be"),
    ("f=1:9-3", "the unit range 9-3 runs backwards; write 3-9"),
    ("f=1:3@0", "the units after : must be"),
])
def test_bad_clamp_texts(text, match):
    with pytest.raises(ValueError, match=match):
        GateClamp.parse(text)


@settings(max_examples=50)
@given(gate=st.sampled_from("ifgoh"), value=st.floats(0, 1), layer=st.none() | st.integers(0, 5),
       units=st.none() | st.lists(st.integers(0, 300), min_size=1, max_size=20))
def test_the_clamp_syntax_round_trips(gate, value, layer, units):
    clamp = GateClamp(gate, value, layer, units)
    assert GateClamp.parse(str(clamp)) == clamp


def test_new_public_names_are_exported_and_documented():
    for name in ("RNN", "GRU", "GateClamp", "VARIANTS", "GRUStep", "gru_step", "rnn_step", "variant_step",
                 "rnn_num_parameters", "gru_num_parameters"):
        assert name in scratch_lstm.__all__ and getattr(scratch_lstm, name).__doc__, name
    from scratch_lstm import variants

    for name in variants.__all__:
        assert getattr(variants, name).__doc__, name


def test_convert_rnn_and_gru_both_ways_and_refuse_a_variant():
    from scratch_lstm import from_torch, to_torch

    for ref in (nn.GRU(3, 4, 2, bidirectional=True, batch_first=True, dtype=torch.float64),
                nn.RNN(3, 4, nonlinearity="relu", bias=False, dtype=torch.float64)):
        ours = from_torch(ref)
        assert type(ours).__name__ == type(ref).__name__ and repr(ours).startswith(type(ref).__name__)
        back = to_torch(ours)
        assert type(back) is type(ref) and getattr(back, "nonlinearity", None) == getattr(ref, "nonlinearity", None)
        x = torch.randn(2, 5, 3, dtype=torch.float64)
        for a, e in zip(ours(x), ref(x)):
            torch.testing.assert_close(a, e, **F64)
        assert all(torch.equal(a, b) for a, b in zip(back.parameters(), ref.parameters()))
    with pytest.raises(ValueError, match="to_torch: variant='cifg' has no torch twin"):
        to_torch(LSTM(3, 4, variant="cifg"))


def test_rnn_and_gru_call_no_torch_rnn_kernel(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a torch RNN kernel was called")

    for name in ("rnn_tanh", "rnn_relu", "gru", "rnn_tanh_cell", "rnn_relu_cell", "gru_cell"):
        monkeypatch.setattr(torch._VF, name, forbidden, raising=False)
    monkeypatch.setattr(nn.RNN, "forward", forbidden)
    monkeypatch.setattr(nn.GRU, "forward", forbidden)
    x = torch.randn(3, 2, 4, requires_grad=True)
    for module in (RNN(4, 5, 2, bidirectional=True), RNN(4, 5, nonlinearity="relu"), GRU(4, 5, 2)):
        out, h = module(x)
        (out.sum() + h.sum()).backward()


def test_gradient_flow_refuses_a_variant():
    model = LSTMClassifier(28, 8, num_layers=1)
    model.rnn = LSTM(28, 8, batch_first=True, variant="nfg")
    with pytest.raises(ValueError, match="gradient_flow's recursion is the vanilla cell's; variant='nfg'"):
        scratch_lstm.gradient_flow(model, torch.randn(2, 28, 28), torch.tensor([1, 2]))


def test_a_cell_other_than_lstm_step_takes_the_teaching_path_on_every_impl():
    from scratch_lstm import impls

    x, h, c = torch.zeros(2, 3, 4), torch.zeros(3, 5), torch.zeros(3, 5)
    tensors = (x, h, c, torch.zeros(20, 4), torch.zeros(20, 5), None, None, None)
    for impl in impls.IMPLS:
        run = impls.layer_function(impl, tensors, cell=nfg_step)
        assert run.func.__name__ == "lstm_layer" and run.keywords["cell"] is nfg_step
    lstm = LSTM(4, 5, impl="fused")
    assert lstm.cells() is None and [f.__name__ for f in lstm.cells([GateClamp("f", 1)])] == ["vanilla_step_held"]
