"""Gate traces obey the LSTM equations and come from the forward's own code path."""

import json
import math

import pytest
import torch
from conftest import TOL
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import scratch_lstm
from scratch_lstm import LSTM, LSTMCell, chrono_init, gate_weights, init_forget_bias, saturation, trace_gates

F64 = TOL[torch.float64]


def test_gate_tools_are_exported_from_the_top_level():
    from scratch_lstm import gates

    for name in gates.__all__:
        assert name in scratch_lstm.__all__, name
        assert getattr(scratch_lstm, name) is getattr(gates, name)
    for name in scratch_lstm.__all__:
        assert getattr(scratch_lstm, name).__doc__, f"{name} has no docstring"
    namespace = {}
    exec("from scratch_lstm import *", namespace)
    assert {"trace_gates", "GateTrace", "gate_weights", "init_forget_bias", "chrono_init",
            "saturation"} <= set(namespace)


@settings(max_examples=60)
@given(
    I=st.integers(1, 4), H=st.integers(2, 6), K=st.integers(1, 3), B=st.integers(1, 3),
    T=st.integers(1, 5), bidirectional=st.booleans(), batch_first=st.booleans(),
    project=st.booleans(), unbatched=st.booleans(), with_hx=st.booleans(),
    impl=st.sampled_from(["scratch", "fused"]), seed=st.integers(0, 2**32 - 1),
)
def test_trace_identities(I, H, K, B, T, bidirectional, batch_first, project, unbatched, with_hx,
                          impl, seed):
    gen = torch.Generator().manual_seed(seed)
    P = H - 1 if project else 0
    lstm = LSTM(I, H, K, batch_first=batch_first, bidirectional=bidirectional, proj_size=P,
                dtype=torch.float64, impl=impl)
    with torch.no_grad():
        for p in lstm.parameters():
            p.uniform_(-1, 1, generator=gen)
    D = 2 if bidirectional else 1
    shape = (T, I) if unbatched else ((B, T, I) if batch_first else (T, B, I))
    x = torch.randn(shape, dtype=torch.float64, generator=gen)
    hx = None
    if with_hx:
        lead = (K * D,) if unbatched else (K * D, B)
        hx = (torch.randn(*lead, P or H, dtype=torch.float64, generator=gen),
              torch.randn(*lead, H, dtype=torch.float64, generator=gen))
    traces = trace_gates(lstm, x, hx)
    out, (h_n, c_n) = lstm(x, hx)
    assert [(r.layer, r.direction) for r in traces] == [
        (k, d) for k in range(K) for d in ("forward", "reverse")[:D]]
    time_dim = 0 if unbatched or not batch_first else 1
    for idx, rec in enumerate(traces):
        c = rec.c.movedim(time_dim, 0)  # (T, ...)
        c0 = torch.zeros_like(c[0]) if hx is None else hx[1][idx]
        rev = rec.direction == "reverse"
        c_prev = torch.cat([c[1:], c0[None]]) if rev else torch.cat([c0[None], c[:-1]])
        f, i, g, o = (rec[n].movedim(time_dim, 0) for n in "figo")
        torch.testing.assert_close(c, f * c_prev + i * g, **F64)  # c_t = f ⊙ c_prev + i ⊙ g
        torch.testing.assert_close(rec.h.movedim(time_dim, 0), o * torch.tanh(c), **F64)
        assert rec.i.shape == rec.c.shape == ((T, H) if unbatched else (
            (B, T, H) if batch_first else (T, B, H)))
        if project:
            w_hr = gate_weights(lstm, rec.layer, rev)["W_hr"]
            torch.testing.assert_close(rec.h_proj, rec.h @ w_hr.T, **F64)
        else:
            assert rec.h_proj is None
        state = rec.h_proj if project else rec.h
        last = state.movedim(time_dim, 0)[0 if rev else -1]
        torch.testing.assert_close(last, h_n[idx], **F64)
        torch.testing.assert_close(c[0 if rev else -1], c_n[idx], **F64)
    top = traces[-D:]
    traced_out = torch.cat([(r.h_proj if project else r.h) for r in top], dim=-1)
    torch.testing.assert_close(traced_out, out, **F64)


def test_trace_accepts_nn_lstm_and_rejects_packed():
    ref = nn.LSTM(3, 4, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    (rec,) = trace_gates(ref, x)
    torch.testing.assert_close(rec.h, ref(x)[0], **F64)
    packed = nn.utils.rnn.pack_padded_sequence(x, [5, 3])
    with pytest.raises(TypeError, match="pad_packed_sequence"):
        trace_gates(ref, packed)
    with pytest.raises(TypeError, match="expects scratch_lstm.LSTM or nn.LSTM"):
        trace_gates(nn.GRU(3, 4), x)


def test_gate_weights_are_named_views():
    lstm = LSTM(3, 4, 2, bidirectional=True, proj_size=2)
    views = gate_weights(lstm, layer=1, reverse=True)
    assert set(views) == {f"{p}{g}" for p in ("W_i", "W_h", "b_i", "b_h") for g in "ifgo"} | {"W_hr"}
    assert torch.equal(views["W_if"], lstm.weight_ih_l1_reverse[4:8])
    assert torch.equal(views["b_ho"], lstm.bias_hh_l1_reverse[12:16])
    assert views["W_hg"].shape == (4, 2) and views["W_ii"].shape == (4, 4)
    with torch.no_grad():
        views["W_ig"].fill_(7.0)
    assert (lstm.weight_ih_l1_reverse[8:12] == 7).all()  # a view, not a copy
    cell_views = gate_weights(LSTMCell(3, 5, bias=False))
    assert set(cell_views) == {f"{p}{g}" for p in ("W_i", "W_h") for g in "ifgo"}
    with pytest.raises(ValueError, match="reverse=True needs a bidirectional LSTM"):
        gate_weights(LSTM(3, 4), reverse=True)
    with pytest.raises(ValueError, match="layer must be in 0..0"):
        gate_weights(LSTM(3, 4), layer=1)


@pytest.mark.parametrize("module", [LSTM(3, 5, 2, bidirectional=True), nn.LSTM(3, 5), LSTMCell(3, 5)])
def test_forget_bias_and_chrono_init(module):
    init_forget_bias(module, 1.0)
    for name, b_ih in module.named_parameters():
        if name.startswith("bias_ih"):
            b_hh = getattr(module, name.replace("bias_ih", "bias_hh"))
            assert torch.equal(b_ih[5:10] + b_hh[5:10], torch.ones(5))
    chrono_init(module, t_max=784, generator=torch.Generator().manual_seed(0))
    for name, b_ih in module.named_parameters():
        if name.startswith("bias_ih"):
            b_hh = getattr(module, name.replace("bias_ih", "bias_hh"))
            b_f, b_i = b_ih[5:10] + b_hh[5:10], b_ih[:5] + b_hh[:5]
            assert (b_f >= 0).all() and (b_f <= math.log(783)).all()
            assert torch.equal(b_i, -b_f)


def test_bias_helpers_refuse_modules_without_bias():
    with pytest.raises(ValueError, match="no biases"):
        init_forget_bias(LSTM(3, 4, bias=False))
    with pytest.raises(ValueError, match="t_max >= 3"):
        chrono_init(LSTM(3, 4), t_max=2)


def test_saturation_counts_values_near_the_limits():
    lstm = LSTM(2, 3)
    with torch.no_grad():
        lstm.bias_ih_l0[3:6] = 50.0  # forget gate pinned open
        lstm.bias_ih_l0[9:12] = -50.0  # output gate pinned closed
    stats = saturation(trace_gates(lstm, torch.randn(4, 1, 2)))["l0_forward"]
    assert stats["f_open"] == 1.0 and stats["f_closed"] == 0.0
    assert stats["o_closed"] == 1.0 and stats["o_open"] == 0.0
    assert 0.0 <= stats["i_open"] < 1.0


def test_plots_and_gates_command_write_pngs_and_json(tmp_path, capsys):
    from scratch_lstm.app.cli import main

    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--train-subset", "200", "--hidden-size",
                 "12", "--epochs", "1", "--log-every", "0", "--out", str(run)]) == 0
    out = tmp_path / "gates"
    assert main(["gates", "--checkpoint", str(run / "last.pt"), "--index", "5", "--out", str(out),
                 "--dataset", "mnist-sample"]) == 0
    for name in ("gates_trained.png", "gates_fresh.png", "trajectory.png", "change.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    data = json.loads((out / "gates.json").read_text())
    assert data["index"] == 5 and set(data["trained"]["gates"]) == {"l0_forward", "l1_forward"}
    assert len(data["trained"]["gates"]["l0_forward"]["f"]) == 28  # 28 steps x 12 units
    printed = capsys.readouterr().out
    assert "mnist-sample test image 5 (label " in printed
    assert "share of gate values within 0.05 of a limit, trained (fresh):" in printed
    assert "l1_forward: forget gate open (>0.95)" in printed
    assert main(["gates", "--checkpoint", str(run / "last.pt"), "--index", "5000", "--out",
                 str(out), "--dataset", "mnist-sample"]) == 2
