"""Bad constructor arguments and bad inputs raise as torch.nn raises, with useful messages.

Every case is one row: what is called (on ``nn.LSTM``/``nn.LSTMCell`` and on ours), the exception
type torch.nn raises (``None``: it accepts the call), ours, and a pattern our message matches. The
rows where the two types differ are exactly the list in docs/testing.md (checked below).
"""

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import scratch_lstm

TESTING_DOC = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


class Row(NamedTuple):
    """One bad call: ``call(LSTM, LSTMCell)`` runs it on one family of modules."""

    id: str
    call: object
    nn_raises: type | None  # None: torch.nn accepts the call
    we_raise: type
    match: str


def _call_of(which: str):
    def build(*args, x=None, hx=None, autocast=False, dtype=None, run=False, **kwargs):
        """A call that builds the module with ``(*args, **kwargs)`` and, if ``x`` is given (or
        ``run``: ``x=None`` as the input), runs it on ``(x, hx)``."""

        def call(LSTM, LSTMCell):
            module = {"lstm": LSTM, "cell": LSTMCell}[which](*args, **kwargs, dtype=dtype)
            if x is not None or run:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    module(x, hx)

        return call

    return build


lstm, cell = _call_of("lstm"), _call_of("cell")  # calls on LSTM and on LSTMCell


X = torch.zeros(5, 3, 6)  # (L, N, I) for LSTM(6, 4, ...)
H1 = torch.zeros(1, 3, 4)  # one layer's h0 or c0
F64 = torch.float64

SAME_TYPE = [
    Row("lstm-hidden-size-0", lstm(3, 0), ValueError, ValueError, "hidden_size must be greater than zero"),
    Row("lstm-input-size-0", lstm(0, 4), ValueError, ValueError, "input_size must be greater than zero"),
    Row("lstm-float-size", lstm(3.0, 4), TypeError, TypeError, "input_size should be of type int"),
    Row("lstm-str-size", lstm(3, "4"), TypeError, TypeError, "hidden_size should be of type int"),
    Row("lstm-float-num-layers", lstm(3, 4, num_layers=2.0), TypeError, TypeError,
        "num_layers should be of type int"),
    Row("lstm-float-proj-size", lstm(3, 4, proj_size=1.0), TypeError, TypeError,
        "proj_size should be of type int"),
    Row("lstm-num-layers-0", lstm(3, 4, num_layers=0), ValueError, ValueError, "num_layers must be greater"),
    Row("lstm-non-bool-bias", lstm(3, 4, bias=1), TypeError, TypeError, "bias should be of type bool"),
    Row("lstm-non-bool-batch-first", lstm(3, 4, batch_first=None), TypeError, TypeError,
        "batch_first should be"),
    Row("lstm-dropout-1.5", lstm(3, 4, dropout=1.5), ValueError, ValueError, "dropout should be a number"),
    Row("lstm-dropout-bool", lstm(3, 4, dropout=True), ValueError, ValueError, "dropout should be a number"),
    Row("lstm-negative-proj", lstm(3, 4, proj_size=-1), ValueError, ValueError,
        "proj_size should be a positive"),
    Row("lstm-proj-too-big", lstm(3, 4, proj_size=4), ValueError, ValueError, "proj_size has to be smaller"),
    Row("lstm-input-size", lstm(6, 4, 2, x=torch.zeros(5, 3, 7)), RuntimeError, RuntimeError,
        r"Expected 6, got 7"),
    Row("lstm-input-4d", lstm(6, 4, 2, x=torch.zeros(3, 6, 4, 2)), ValueError, ValueError,
        r"Expected input to be 2D \(L, H_in\) or 3D"),
    Row("lstm-input-1d", lstm(6, 4, 2, x=torch.zeros(6)), ValueError, ValueError, "got 1D instead"),
    Row("lstm-input-dtype", lstm(6, 4, 2, x=X.double()), ValueError, ValueError,
        r"input\.to\(torch\.float32\)"),
    Row("lstm-input-int", lstm(6, 4, x=X.long()), ValueError, ValueError, r"input\.to\(torch\.float32\)"),
    Row("lstm-h0-shape", lstm(6, 4, 2, x=X, hx=(torch.zeros(2, 2, 4), torch.zeros(2, 2, 4))),
        RuntimeError, RuntimeError, r"Expected hidden\[0\] \(h_0\) size \(2, 3, 4\) .* got \[2, 2, 4\]"),
    Row("lstm-c0-shape", lstm(6, 4, 2, x=X, hx=(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))),
        RuntimeError, RuntimeError, r"Expected hidden\[1\] \(c_0\) size \(2, 3, 4\)"),
    Row("lstm-hx-2d-for-batched", lstm(6, 4, 2, x=X, hx=(torch.zeros(2, 4), torch.zeros(2, 4))),
        RuntimeError, RuntimeError, "For batched 3-D input, hx and cx should also be 3-D"),
    Row("lstm-hx-3d-for-unbatched",
        lstm(6, 4, 2, x=torch.zeros(5, 6), hx=(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))),
        RuntimeError, RuntimeError, "For unbatched 2-D input, hx and cx should also be 2-D"),
    Row("lstm-unbatched-h0-shape",
        lstm(6, 4, 2, x=torch.zeros(5, 6), hx=(torch.zeros(2, 5), torch.zeros(2, 4))),
        RuntimeError, RuntimeError, r"Expected hidden\[0\] \(h_0\) size \(2, 4\) .* got \[2, 5\]"),
    Row("lstm-hx-stacked", lstm(6, 4, x=X, hx=torch.zeros(2, 1, 3, 4)), TypeError, TypeError,
        r"hx must be a tuple \(h_0, c_0\)"),
    Row("lstm-packed-input-size", lstm(6, 4, x=pack_padded_sequence(torch.zeros(4, 2, 5), [4, 2])),
        RuntimeError, RuntimeError, "Expected 6, got 5"),
    Row("lstm-packed-h0-shape",
        lstm(6, 4, x=pack_padded_sequence(torch.zeros(4, 2, 6), [4, 2]), hx=(H1, H1)),
        RuntimeError, RuntimeError, r"Expected hidden\[0\]"),
    Row("lstm-length-0", lstm(6, 4, x=torch.zeros(0, 3, 6)), RuntimeError, RuntimeError,
        "Expected sequence length to be larger than 0 in RNN"),
    Row("cell-float-size", cell(3, 4.0), TypeError, TypeError, "hidden_size should be of type int"),
    Row("cell-input-3d", cell(4, 6, x=torch.zeros(2, 3, 4)), ValueError, ValueError,
        "Expected input to be 1D"),
    Row("cell-input-size", cell(4, 6, x=torch.zeros(2, 5)), RuntimeError, RuntimeError,
        "expected input_size=4"),
    Row("cell-hx-shape", cell(4, 6, x=torch.zeros(2, 4), hx=(torch.zeros(3, 6), torch.zeros(3, 6))),
        RuntimeError, RuntimeError, r"must have shape \[2, 6\]"),
    Row("cell-hx-unbatched-shape", cell(4, 6, x=torch.zeros(4), hx=(torch.zeros(1, 6), torch.zeros(1, 6))),
        RuntimeError, RuntimeError, r"must have shape \[6\]"),
    Row("cell-hx-stacked", cell(4, 6, x=torch.zeros(2, 4), hx=torch.zeros(2, 2, 6)), TypeError, TypeError,
        r"got a Tensor of shape \[2, 2, 6\]\. A stacked \(2, B, H\) tensor is not split"),
    Row("cell-hx-3d", cell(4, 6, x=torch.zeros(2, 4), hx=(torch.zeros(1, 2, 6), torch.zeros(1, 2, 6))),
        ValueError, ValueError, r"Expected hx\[0\] to be 1D \(H,\) or 2D \(B, H\), got 3D"),
]

# Where torch.nn's type is an accident of its code, ours is torch.nn's type and a telling one too
# (scratch_lstm.checks): docs/testing.md's list "exception types" names exactly these rows, with
# torch.nn's type and the other type ours also is.
TELLING_TYPE = [
    Row("lstm-input-not-a-tensor", lstm(6, 4, x=[1.0, 2.0]), AttributeError, TypeError,
        "Expected input to be a Tensor or a PackedSequence, got list"),
    Row("lstm-input-numpy", lstm(6, 4, x=np.zeros((5, 3, 6), np.float32)), AttributeError, TypeError,
        "Expected input to be a Tensor or a PackedSequence, got ndarray"),
    Row("lstm-input-none", lstm(6, 4, x=None, hx=(H1, H1), run=True), AttributeError, TypeError,
        "got NoneType"),
    Row("lstm-input-tuple", lstm(6, 4, x=(X,)), AttributeError, TypeError, "got tuple"),
    Row("lstm-hx-a-tensor", lstm(6, 4, x=X, hx=H1), IndexError, TypeError,
        r"hx must be a tuple \(h_0, c_0\) of two tensors, got Tensor"),
    Row("lstm-hx-one-tensor", lstm(6, 4, x=X, hx=(H1,)), IndexError, TypeError,
        r"hx must be a tuple \(h_0, c_0\) of two tensors, got tuple"),
    Row("lstm-hx-three-tensors", lstm(6, 4, x=X, hx=(H1, H1, H1)), RuntimeError, TypeError,
        r"hx must be a tuple \(h_0, c_0\) of two tensors"),
    Row("lstm-hx-lists", lstm(6, 4, x=X, hx=([0.0], [0.0])), AttributeError, TypeError,
        r"got a tuple of 2 element\(s\) \(list, list\)"),
    Row("lstm-hx-dtype", lstm(6, 4, x=X, hx=(H1.double(), H1)), RuntimeError, ValueError,
        r"hidden\[0\] \(h_0\) dtype \(torch.float64\) does not match input dtype"),
    Row("lstm-packed-dtype", lstm(6, 4, x=pack_padded_sequence(torch.zeros(4, 2, 6, dtype=F64), [4, 2])),
        RuntimeError, ValueError, r"input\.to\(torch\.float32\)"),
    Row("lstm-packed-no-steps",
        lstm(6, 4, x=PackedSequence(torch.zeros(0, 6), torch.zeros(0, dtype=torch.long))),
        IndexError, RuntimeError, "Expected sequence length to be larger than 0 in RNN: got a PackedSequence"),
    Row("lstm-autocast-float64-input", lstm(6, 4, x=X.double(), autocast=True), RuntimeError, ValueError,
        "autocast cannot reconcile them"),
    Row("lstm-autocast-float64-model", lstm(6, 4, x=X, autocast=True, dtype=F64), RuntimeError,
        ValueError, "autocast cannot reconcile them"),
    Row("cell-input-list", cell(4, 6, x=[[0.0] * 4]), AttributeError, TypeError,
        "Expected input to be a Tensor"),
    Row("cell-input-dtype", cell(4, 6, x=torch.zeros(2, 4, dtype=F64)), RuntimeError, ValueError,
        "input dtype .* does not match weight dtype"),
    Row("cell-hx-dtype", cell(4, 6, x=torch.zeros(2, 4), hx=(torch.zeros(2, 6, dtype=F64), torch.zeros(2, 6))),
        RuntimeError, ValueError, r"hx\[0\] dtype \(torch.float64\) does not match weight dtype"),
    Row("cell-hx-one-tensor", cell(4, 6, x=torch.zeros(2, 4), hx=(torch.zeros(2, 6),)), RuntimeError,
        TypeError, r"hx must be a tuple \(h, c\) of two tensors, got a tuple of 1 element\(s\) \(Tensor\)"),
    Row("cell-hx-not-tensors", cell(4, 6, x=torch.zeros(2, 4), hx=(None, None)), AttributeError,
        TypeError, r"got a tuple of 2 element\(s\) \(NoneType, NoneType\)"),
    Row("cell-negative-size", cell(-1, 4), RuntimeError, ValueError, "input_size must be zero or more"),
    Row("cell-autocast-float64-input", cell(4, 6, x=torch.zeros(2, 4, dtype=F64), autocast=True),
        RuntimeError, ValueError, "autocast cannot reconcile them"),
]


def raised(call, *modules):
    """The type of the exception ``call`` raises on these module classes, or None."""
    try:
        call(*modules)
    except Exception as e:  # noqa: BLE001 (the type is what is compared)
        return type(e)
    return None


@pytest.mark.parametrize("row", SAME_TYPE + TELLING_TYPE, ids=lambda r: r.id)
def test_bad_call_raises_as_the_table_says(row):
    torch.manual_seed(0)
    assert raised(row.call, nn.LSTM, nn.LSTMCell) is row.nn_raises  # torch.nn, exactly
    with pytest.raises(row.nn_raises, match=row.match) as caught:  # ours is torch.nn's type
        row.call(scratch_lstm.LSTM, scratch_lstm.LSTMCell)
    assert isinstance(caught.value, row.we_raise)  # and the telling one


def test_the_table_is_split_by_whether_ours_is_one_type_or_two():
    assert all(r.nn_raises is r.we_raise for r in SAME_TYPE)
    assert all(r.nn_raises is not r.we_raise for r in TELLING_TYPE)
    ids = [r.id for r in SAME_TYPE + TELLING_TYPE]
    assert len(ids) == len(set(ids))


ACCEPTED = [  # calls torch.nn accepts, and so do we, with the same parameters
    ("lstm-bool-size", lambda M: M(True, 4)),
    ("lstm-bool-num-layers", lambda M: M(3, 4, num_layers=True)),
]
CELL_ACCEPTED = [
    ("cell-bool-size", lambda M: M(True, 4)),
    ("cell-int-bias", lambda M: M(3, 4, bias=1)),
]


@pytest.mark.parametrize("case, build", ACCEPTED + CELL_ACCEPTED, ids=[c for c, _ in ACCEPTED + CELL_ACCEPTED])
def test_what_torch_nn_accepts_we_accept(case, build):
    ours, theirs = (scratch_lstm.LSTM, nn.LSTM) if case.startswith("lstm") else (scratch_lstm.LSTMCell, nn.LSTMCell)
    a, b = build(ours), build(theirs)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    a.load_state_dict(b.state_dict())
    x = torch.randn(5, 1) if case.endswith("bool-size") else torch.randn(5, 3)
    if case == "lstm-bool-num-layers":  # torch.nn builds it, then its kernel refuses the bool
        assert a(x)[0].shape == (5, 4)
    else:
        assert torch.allclose(a(x)[0], b(x)[0], atol=1e-6)


def test_a_variant_that_is_not_a_name_is_the_documented_value_error():
    with pytest.raises(ValueError, match=r"variant must be one of .* got \['nig'\]"):
        scratch_lstm.LSTM(3, 4, variant=["nig"])


@pytest.mark.parametrize("make", [lambda: scratch_lstm.RNN(3, 4), lambda: scratch_lstm.GRU(3, 4),
                                  lambda: scratch_lstm.LSTM(3, 4, num_layers=2),
                                  lambda: scratch_lstm.LSTM(3, 4, impl="fused")],
                         ids=["RNN", "GRU", "LSTM", "LSTM-fused"])
def test_the_meta_device_infers_shapes_as_torch_nn_does(make):
    module = make().to("meta")
    theirs = scratch_lstm.to_torch(make()).to("meta")
    x = torch.zeros(5, 2, 3).to("meta")
    ours_out, ours_h = module(x)
    their_out, their_h = theirs(x)
    assert ours_out.device.type == "meta" and ours_out.shape == their_out.shape
    assert [t.shape for t in (ours_h if isinstance(ours_h, tuple) else (ours_h,))] == \
        [t.shape for t in (their_h if isinstance(their_h, tuple) else (their_h,))]


def test_the_cell_on_the_meta_device():
    h, c = scratch_lstm.LSTMCell(3, 4).to("meta")(torch.zeros(2, 3, device="meta"))
    assert h.shape == c.shape == (2, 4) and h.device.type == "meta"


@pytest.mark.parametrize("make", [lambda: scratch_lstm.LSTM(3, 4), lambda: scratch_lstm.GRU(3, 4),
                                  lambda: scratch_lstm.RNN(3, 4), lambda: scratch_lstm.LSTMCell(3, 4)],
                         ids=["LSTM", "GRU", "RNN", "LSTMCell"])
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")  # torch's own word on it
def test_torch_jit_script_is_refused_with_one_line_that_says_what_to_use(make):
    module = make()
    name = type(module).__name__
    with pytest.raises(RuntimeError, match=rf"torch.jit.script does not compile scratch_lstm.{name}: .* Use "
                                           r"torch.compile\(model\), or script scratch_lstm.to_torch\(model\)") as e:
        torch.jit.script(module)
    assert "\n" not in str(e.value)
    torch.jit.script(scratch_lstm.to_torch(module))  # as the line says


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["scratch", "fused"])
def test_torch_compile_runs_the_teaching_and_fused_paths(impl):
    torch.manual_seed(0)
    model = scratch_lstm.LSTM(3, 4, num_layers=2, impl=impl)
    x = torch.randn(6, 2, 3, requires_grad=True)
    compiled = torch.compile(model, backend="aot_eager")
    out, (h, c) = compiled(x)
    ref, (h_ref, c_ref) = model(x)
    assert torch.allclose(out, ref, atol=1e-6) and torch.allclose(c, c_ref, atol=1e-6)
    grad, = torch.autograd.grad(out.sum(), x)
    grad_ref, = torch.autograd.grad(ref.sum(), x)
    assert torch.allclose(grad, grad_ref, atol=1e-6)


def documented_differences() -> dict[str, tuple[str, str]]:
    """docs/testing.md's table of differing exception types: ``{case id: (torch.nn, ours)}``."""
    text = TESTING_DOC.read_text(encoding="utf-8")
    start = text.index("<!-- error-types-differ -->")
    rows = {}
    for line in (line.strip() for line in text[start:].splitlines()[1:]):
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        case = re.match(r"`([a-z0-9.-]+)`", cells[0])
        if case:
            rows[case.group(1)] = (cells[1].strip("`"), cells[2].strip("`"))
    return rows


def test_docs_list_exactly_the_cases_where_ours_is_two_types():
    expected = {r.id: (r.nn_raises.__name__, r.we_raise.__name__) for r in TELLING_TYPE}
    assert documented_differences() == expected


def test_impl_must_be_known():
    with pytest.raises(ValueError, match="impl must be one of"):
        scratch_lstm.LSTM(3, 4, impl="cudnn")


def test_dropout_warning_like_nn_lstm():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.5)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        scratch_lstm.LSTM(3, 4, dropout=0.5)
