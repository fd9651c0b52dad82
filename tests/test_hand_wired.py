"""The hand-wired LSTM of scratch_lstm/hand_wired.py: it solves its task, each broken gate fails
as the lesson says, it is an nn.LSTM state dict, and the table in docs/why-lstm.md is what
``step_table`` prints."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

import scratch_lstm
from scratch_lstm.hand_wired import (
    BROKEN,
    example_stream,
    hand_wired_weights,
    memory_task,
    run_steps,
    solved,
    step_table,
)

ROOT = Path(__file__).resolve().parents[1]


def outputs(broken=None, n=1000, steps=60):
    """h_t of the (broken) wiring over ``n`` test streams: (n, steps), and the targets."""
    x, y = memory_task(n, steps, torch.Generator().manual_seed(1))
    return torch.cat([s.h for s in run_steps(hand_wired_weights(broken), x)], dim=1), y, x


def test_the_task():
    x, y = memory_task(50, 20, torch.Generator().manual_seed(0))
    assert x.shape == (50, 20, 3) and y.shape == (50, 20)
    assert (x[..., 1].sum(1) == 1).all() and (x[..., 1][:, 5:] == 0).all()  # one marker, early
    assert (x[..., 2][:, -1] == 1).all() and (x[..., 2][:, :-1] == 0).all()  # the query, last
    marked = (x[..., 0] * x[..., 1]).sum(1)
    assert torch.equal(y[:, -1], marked) and (y[:, :-1] == 0).all()
    with pytest.raises(ValueError, match="steps must exceed 5"):
        memory_task(1, 5, torch.Generator())
    with pytest.raises(ValueError, match="broken must be None or one of"):
        hand_wired_weights("f=1")


def test_the_hand_wired_lstm_solves_every_stream():
    h, y, _ = outputs()
    assert solved(h, y).all()
    assert (h[:, :-1].abs() < 1e-3).all()  # silent until the query
    assert (h[:, -1] * y[:, -1] > 0.75).all()  # then the marked bit's sign, clearly


def test_it_is_an_nn_lstm_state_dict_and_both_lstms_agree():
    x, _ = memory_task(100, 60, torch.Generator().manual_seed(2))
    ours = scratch_lstm.LSTM(3, 1, batch_first=True, dtype=torch.float64)
    theirs = nn.LSTM(3, 1, batch_first=True, dtype=torch.float64)
    ours.load_state_dict(hand_wired_weights(), strict=True)
    theirs.load_state_dict(hand_wired_weights(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], theirs(x)[0], rtol=0, atol=1e-15)
        steps = torch.cat([s.h for s in run_steps(hand_wired_weights(), x)], dim=1)
        torch.testing.assert_close(ours(x)[0][..., 0], steps, rtol=0, atol=1e-15)


def test_a_forget_gate_at_one_half_loses_the_bit():
    h, y, _ = outputs("f=0.5")
    assert not solved(h, y).any()
    assert (h[:, -1].abs() < 1e-3).all()  # nothing left at the query


def test_an_input_gate_always_open_drowns_the_bit():
    h, y, _ = outputs("i=1")
    share = solved(h, y).double().mean().item()
    assert 0.3 < share < 0.7, share  # a coin toss
    assert (h[:, :-1].abs() < 1e-3).all()  # still silent: the output gate works


def test_an_output_gate_always_open_answers_before_it_is_asked():
    h, y, x = outputs("o=1")
    assert not solved(h, y).any()
    assert (h[:, -1] * y[:, -1] > 0.75).all()  # the answer at the query is right ...
    after_marker = x[..., 1].cumsum(1).bool()[:, :-1]
    assert (h[:, :-1][after_marker].abs() > 0.5).all()  # ... but it was heard from the marker on


def test_every_broken_gate_is_named_in_the_lesson():
    lesson = (ROOT / "examples" / "01_hand_wired_memory.py").read_text(encoding="utf-8")
    for name in BROKEN:
        assert f"**{name}**" in lesson


def test_the_docs_quote_the_table_step_table_prints():
    page = (ROOT / "docs" / "why-lstm.md").read_text(encoding="utf-8")
    x, _ = example_stream()
    tables = {None: step_table(hand_wired_weights(), x)}
    for broken in BROKEN:
        tables[broken] = step_table(hand_wired_weights(broken), x, rows=[1, 2, 3, 4, 57, 58, 59])
    for broken, table in tables.items():
        assert table in page, f"docs/why-lstm.md does not quote the table of {broken or 'the wiring'}"
    quoted = re.findall(r"^   t   x_t  marker query \|", page, flags=re.M)
    assert len(quoted) == len(tables)  # and no stale table besides them
