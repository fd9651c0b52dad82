"""The solutions of the lessons' exercises (scratch_lstm/exercises.py), in one place, outside the
notebooks: tests/test_exercises.py shows that each passes its check."""

import math

import torch
import torch.nn.functional as F


def lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step from the six equations: (h_t, c_t)."""
    z = x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh  # (B, 4H)
    z_i, z_f, z_g, z_o = z.chunk(4, dim=1)  # each (B, H)
    i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c = f * c_prev + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(c_t)
    return h, c


def gru_step(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    """One GRU step in nn.GRU's form: h_t."""
    a_r, a_z, a_n = (x @ w_ih.T + b_ih).chunk(3, dim=1)  # each (B, H)
    b_r, b_z, b_n = (h_prev @ w_hh.T + b_hh).chunk(3, dim=1)  # each (B, H)
    r, z = torch.sigmoid(a_r + b_r), torch.sigmoid(a_z + b_z)
    n = torch.tanh(a_n + r * b_n)
    return (1 - z) * n + z * h_prev


def cifg_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    """One CIFG step: i_t = 1 - f_t; (h_t, c_t)."""
    _, z_f, z_g, z_o = (x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh).chunk(4, dim=1)
    f = torch.sigmoid(z_f)
    c = f * c_prev + (1 - f) * torch.tanh(z_g)
    return torch.sigmoid(z_o) * torch.tanh(c), c


# nn.LSTM(28, 64, num_layers=2, bidirectional=True): 2 directions x (layer 0 + layer 1)
parameter_count = 2 * (4 * 64 * (28 + 64 + 2) + 4 * 64 * (2 * 64 + 64 + 2))

gate_rows = (512, 768)  # g is the third block of H = 256 rows

initial_loss = math.log(10)

forget_bias = math.log(99)  # 1 / (1 - σ(b)) = 1 + e^b = 100

clamp_o1 = "b"

# the cell path multiplies dL/dc_t by σ(b_f) a step: σ(b_f)^49 = 0.1
cell_path_bias = math.log(0.1 ** (1 / 49) / (1 - 0.1 ** (1 / 49)))

torch_draw = "a"

second_marker = "a"


def hold_weights():
    """The hand-wired unit with a forget gate of σ(15) a step: 0.9999997, so 200 steps keep it all."""
    w_ih = torch.zeros(4, 3, dtype=torch.float64)  # rows i, f, g, o; columns value, marker, query
    b_ih = torch.zeros(4, dtype=torch.float64)
    w_ih[0, 1], b_ih[0] = 20.0, -10.0  # i: open at the marker only
    w_ih[1, 1], b_ih[1] = -30.0, 15.0  # f: σ(15) while it holds, σ(-15) at the marker (make room)
    w_ih[2, 0] = 3.0  # g = tanh(3·value)
    w_ih[3, 2], b_ih[3] = 20.0, -10.0  # o: open at the query only
    return {"weight_ih_l0": w_ih, "weight_hh_l0": torch.zeros(4, 1, dtype=torch.float64),
            "bias_ih_l0": b_ih, "bias_hh_l0": torch.zeros(4, dtype=torch.float64)}


grid_programs = 7 * 4 * 4  # ceil(100 / 16) x ceil(200 / 64) tiles, four programs each


def train_step(model, optimizer, x, y):
    """One step of the training loop."""
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss
