"""The exercises' checks are honest both ways: each solution (tests/exercise_solutions.py) passes
its check, each check says "not yet done" to None, and plausible wrong answers, written here
independently of the checks, fail with the hint that names their mistake. No check shows its
solution."""

import math

import exercise_solutions as solutions
import pytest
import torch
import torch.nn.functional as F

from scratch_lstm import exercises

# ---- wrong answers a learner writes ---------------------------------------------------------------


def lstm_gates_swapped(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    z_i, z_f, z_o, z_g = (x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh).chunk(4, dim=1)  # i, f, o, g: wrong
    i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c = f * c_prev + i * g
    return o * torch.tanh(c), c


def lstm_no_bias(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    z_i, z_f, z_g, z_o = (x @ w_ih.T + h_prev @ w_hh.T).chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c = f * c_prev + i * g
    return o * torch.tanh(c), c


def lstm_one_bias(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    z_i, z_f, z_g, z_o = (x @ w_ih.T + b_ih + h_prev @ w_hh.T).chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c = f * c_prev + i * g
    return o * torch.tanh(c), c


def lstm_tanh_forget(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    z_i, z_f, z_g, z_o = (x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh).chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(z_i), torch.tanh(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c = f * c_prev + i * g
    return o * torch.tanh(c), c


def lstm_unsquashed(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    h, c = solutions.lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh)
    z_o = (x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh).chunk(4, dim=1)[3]
    return torch.sigmoid(z_o) * c, c


def lstm_returns_c_h(*args):
    h, c = solutions.lstm_step(*args)
    return c, h


def lstm_detached(*args):
    h, c = solutions.lstm_step(*args)
    return h.detach(), c.detach()


def lstm_forgets_w_hh_gradient(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    return solutions.lstm_step(x, h_prev, c_prev, w_ih, w_hh.detach(), b_ih, b_hh)


def lstm_untransposed(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    return solutions.lstm_step(x, h_prev, c_prev, w_ih.T, w_hh.T, b_ih, b_hh)  # x @ w_ih: shapes clash


def gru_update_swapped(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    a_r, a_z, a_n = (x @ w_ih.T + b_ih).chunk(3, dim=1)
    b_r, b_z, b_n = (h_prev @ w_hh.T + b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(a_r + b_r), torch.sigmoid(a_z + b_z)
    n = torch.tanh(a_n + r * b_n)
    return z * n + (1 - z) * h_prev


def gru_reset_before_product(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    a_r, a_z, a_n = (x @ w_ih.T + b_ih).chunk(3, dim=1)
    b_r, b_z, _ = (h_prev @ w_hh.T + b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(a_r + b_r), torch.sigmoid(a_z + b_z)
    w_hn, b_hn = w_hh.chunk(3)[2], b_hh.chunk(3)[2]
    n = torch.tanh(a_n + (r * h_prev) @ w_hn.T + b_hn)  # Cho et al.'s form, not nn.GRU's
    return (1 - z) * n + z * h_prev


def gru_gates_swapped(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    a_z, a_r, a_n = (x @ w_ih.T + b_ih).chunk(3, dim=1)  # z, r, n: wrong
    b_z, b_r, b_n = (h_prev @ w_hh.T + b_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(a_r + b_r), torch.sigmoid(a_z + b_z)
    n = torch.tanh(a_n + r * b_n)
    return (1 - z) * n + z * h_prev


def cifg_i_equals_f(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    _, z_f, z_g, z_o = (x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh).chunk(4, dim=1)
    f = torch.sigmoid(z_f)
    c = f * c_prev + f * torch.tanh(z_g)
    return torch.sigmoid(z_o) * torch.tanh(c), c


def cifg_from_input_rows(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    z_i, _, z_g, z_o = (x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh).chunk(4, dim=1)
    i = torch.sigmoid(z_i)
    c = (1 - i) * c_prev + i * torch.tanh(z_g)  # f = 1 - i: coupled the other way
    return torch.sigmoid(z_o) * torch.tanh(c), c


def cifg_tanh_forget(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    _, z_f, z_g, z_o = (x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh).chunk(4, dim=1)
    f = torch.tanh(z_f)
    c = f * c_prev + (1 - f) * torch.tanh(z_g)
    return torch.sigmoid(z_o) * torch.tanh(c), c


def train_step_without_zero_grad(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def train_step_without_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    return loss


def train_step_softmax_first(model, optimizer, x, y):
    loss = F.nll_loss(torch.softmax(model(x), dim=1), y)  # the probabilities, not their log
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def wiring(i=(20.0, -10.0), f=(-20.0, 10.0), o=(20.0, -10.0)):
    """The hand-wired unit as a learner writes it: each gate's (weight on its signal, bias)."""
    w_ih, b_ih = torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    (w_ih[0, 1], b_ih[0]), (w_ih[1, 1], b_ih[1]), (w_ih[3, 2], b_ih[3]) = i, f, o
    w_ih[2, 0] = 3.0
    return {"weight_ih_l0": w_ih, "weight_hh_l0": torch.zeros(4, 1, dtype=torch.float64),
            "bias_ih_l0": b_ih, "bias_hh_l0": torch.zeros(4, dtype=torch.float64)}


def wiring_with(name, tensor):
    weights = wiring()
    weights[name] = tensor
    return weights


H_64 = 64
ONE_DIRECTION = 4 * 64 * (28 + 64 + 2) + 4 * 64 * (64 + 64 + 2)  # what one direction of a 2-layer LSTM holds
CASES = {  # check -> (its solution, [(a wrong answer, words its hint must hold), ...])
    "check_lstm_step": (solutions.lstm_step, [
        (lstm_gates_swapped, "gate order"), (lstm_no_bias, "both biases are missing"),
        (lstm_one_bias, "b_hh is missing"), (lstm_tanh_forget, "equation of f_t"),
        (lstm_unsquashed, "h_t = o_t ⊙ tanh(c_t)"), (lstm_returns_c_h, "swapped"),
        (lstm_detached, "no gradient flows"), (lstm_forgets_w_hh_gradient, "no gradient reaches w_hh"),
        (lstm_untransposed, "x @ w_ih.T")]),
    "check_gru_step": (solutions.gru_step, [
        (gru_update_swapped, "share of the old state kept"), (gru_reset_before_product, "after the product"),
        (gru_gates_swapped, "[r | z | n]")]),
    "check_cifg_step": (solutions.cifg_step, [
        (cifg_i_equals_f, "i_t = 1 - f_t, not f_t"), (cifg_from_input_rows, "the other way"),
        (cifg_tanh_forget, "equation of f_t"), (solutions.lstm_step, "vanilla LSTM")]),
    "check_parameter_count": (solutions.parameter_count, [
        (ONE_DIRECTION, "one direction's count"),
        (2 * (4 * 64 * (28 + 64 + 2) + 4 * 64 * (64 + 64 + 2)), "2H features"),
        (2 * (4 * 64 * (28 + 64 + 1) + 4 * 64 * (128 + 64 + 1)), "two bias vectors"),
        (2 * 4 * 64 * (28 + 64 + 2), "layer 0 only"), ("a lot", "as a number"), (12.5, "whole number")]),
    "check_gate_rows": (solutions.gate_rows, [
        ((256, 512), "rows of f"), ((512, 767), "off-by-one"), ((768, 1024), "rows of o"),
        (slice(2, 3), "1 rows")]),
    "check_initial_loss": (solutions.initial_loss, [
        (1.0, "natural logarithm"), (0.1, "chance"), (0.0, "perfect model"), (math.log(2), "evenly")]),
    "check_forget_bias": (solutions.forget_bias, [
        (math.log(100), "1 + e^b, not e^b"), (0.99, "the gate's value f"), (-math.log(99), "negative bias"),
        (1.0, "solve it for b_f"), (torch.tensor(2.0), "solve it for b_f")]),
    "check_clamp_o1": (solutions.clamp_o1, [
        ("c", "forget gate"), ("a", "relies on its output gates"), ("e", "choose one of")]),
    "check_grid_programs": (solutions.grid_programs, [
        (28, "one program a tile"), (6 * 3 * 4, "round up"), (6 * 3, "round up"), (100, "count the tiles")]),
    "check_hold": (solutions.hold_weights(), [
        (wiring(f=(-20.0, 5.0)), "the bit fades"),  # σ(5) a step: holds 60 steps, not 200
        (wiring(f=(0.0, 0.0)), "the bit fades"),  # f = 0.5
        (wiring(i=(0.0, 10.0)), "drowns among them"),  # the input gate always open
        (wiring(i=(5.0, -2.5), f=(-5.0, 2.5), o=(5.0, -2.5)), "drowns among them"),  # example 01's weak switches
        (wiring(i=(20.0, -10.0), f=(-5.0, 2.5)), "the bit fades"),  # ... with the input gate mended
        (wiring(i=(-20.0, 10.0)), "nothing is written at the marker"),  # the input gate's switch reversed
        (wiring(o=(0.0, 10.0)), "heard before the query"),  # the output gate always open
        (wiring(o=(0.0, -10.0)), "at the query"),  # the output gate never open
        (wiring_with("weight_ih_l0", torch.zeros(3, 4, dtype=torch.float64)), "expected (4, 3)"),
        ({"weight_ih_l0": torch.zeros(4, 3)}, "four tensors")]),
    "check_second_marker": (solutions.second_marker, [
        ("b", "f_t = 1 at the marker"), ("c", "lets go of the old content"), ("x", "choose one of")]),
    "check_cell_path_bias": (solutions.cell_path_bias, [
        (0.1 ** (1 / 49), "the gate's value f"), (math.atanh(0.1 ** (1 / 49)), "not tanh"),
        (0.0, "halves"), (5.0, "solve for b_f")]),
    "check_torch_draw": (solutions.torch_draw, [
        ("b", "the cell path has no tanh"), ("c", "only f_t multiplies"), ("d", "same budget")]),
    "check_train_step": (solutions.train_step, [
        (train_step_without_zero_grad, "optimizer.zero_grad()"), (train_step_without_step, "optimizer.step()"),
        (train_step_softmax_first, "no softmax first")]),
}


def test_every_check_has_cases():
    assert sorted(CASES) == sorted(n for n in exercises.__all__ if n.startswith("check_"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_solution_passes(name):
    solution, _ = CASES[name]
    verdict = getattr(exercises, name)(solution)
    assert verdict.ok and str(verdict).startswith("correct: "), verdict


@pytest.mark.parametrize("name", sorted(CASES))
def test_none_is_not_yet_done(name):
    verdict = getattr(exercises, name)(None)
    assert not verdict.ok and verdict.status == "not yet done" and "then run this check again" in str(verdict)


@pytest.mark.parametrize("name, wrong, words", [(name, w, words) for name, (_, cases) in sorted(CASES.items())
                                                for w, words in cases])
def test_a_wrong_answer_fails_with_its_hint(name, wrong, words):
    verdict = getattr(exercises, name)(wrong)
    assert not verdict.ok and verdict.status == "not yet", verdict
    assert words in verdict.message, verdict


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_check_shows_its_solution(name):
    """A wrong answer's message never holds the right number (the numeric checks) or the solution's text."""
    solution, cases = CASES[name]
    for wrong, _ in cases:
        message = str(getattr(exercises, name)(wrong))
        if isinstance(solution, (int, float)):
            for shown in (f"{solution}", f"{solution:,}", f"{solution:.2f}", f"{solution:.3f}"):
                assert shown not in message, (wrong, message)


def test_more_than_each_cases_wrong_answer_fails():
    """Each check rejects at least two wrong answers (the cases above hold two or more of each)."""
    assert all(len(cases) >= 2 for _, cases in CASES.values())


def test_a_right_value_with_a_hidden_mistake_elsewhere_fails():
    """The step checks try more than one draw: an answer right on a single draw only fails."""
    calls = []

    def right_once(*args):
        calls.append(1)
        h, c = solutions.lstm_step(*args)
        return (h, c) if len(calls) == 1 else (h + 1e-3, c)

    verdict = exercises.check_lstm_step(right_once)
    assert not verdict.ok and "h first differs at row 0, unit 0" in verdict.message


def test_a_verdict_prints_as_its_message():
    verdict = exercises.check_initial_loss(1.0)
    assert str(verdict) == repr(verdict) == f"not yet: {verdict.message}" and not verdict


def test_a_forget_bias_to_two_decimals_will_do():
    assert exercises.check_forget_bias(4.59).ok and exercises.check_forget_bias(4.6).ok
    assert not exercises.check_forget_bias(4.61).ok  # 101.5 steps
