"""Example 1: how an LSTM works: the lecture's shape walk-through, scratch and nn.LSTM side by side.

Teaches: what goes in and comes out of an LSTM (x (B, T, I) -> y (B, T, H), h_n and c_n
(K, B, H); the lecture writes X [N, L, Q] -> Y [N, L, D]), that the last step of the top layer's
output is h_n's top row, and one cell step written as the gate equations. The letters are those of
the notation box at the top of scratch_lstm/cell.py. Runs in about 3 seconds on a CPU.

    python examples/01_how_lstm_works.py
"""

import torch
from torch import nn

import scratch_lstm
from scratch_lstm import lstm_step

torch.manual_seed(0)
B, T, I, H, K = 2, 20, 28, 256, 2  # batch rows, steps, input features, hidden units, layers

theirs = nn.LSTM(input_size=I, hidden_size=H, num_layers=K, batch_first=True)
ours = scratch_lstm.from_torch(theirs)  # same weights, gates computed by scratch_lstm/cell.py

x = torch.randn(B, T, I)  # (B, T, I): B sequences of T steps with I features
for name, rnn in (("nn.LSTM     ", theirs), ("scratch LSTM", ours)):
    rnn_out, (hn, cn) = rnn(x)
    print(f"{name}: x:{list(x.shape)} => rnn_out:{list(rnn_out.shape)}  "
          f"hn:{list(hn.shape)} cn:{list(cn.shape)}")

rnn_out, (hn, cn) = ours(x)
ref_out, (ref_hn, ref_cn) = theirs(x)
print(f"max |scratch - nn.LSTM|: output {(rnn_out - ref_out).abs().max():.2e}, "
      f"h_n {(hn - ref_hn).abs().max():.2e}, c_n {(cn - ref_cn).abs().max():.2e}")
print("the top layer's last output is h_n[-1]:", torch.equal(rnn_out[:, -1], hn[-1]))

# Step t = 0 of layer 0, by hand, from the initial state h_{-1} = c_{-1} = 0: the four gates from
# the stacked weights (rows i, f, g, o).
h_init, c_init = torch.zeros(B, H), torch.zeros(B, H)  # h_{-1}, c_{-1}
step = lstm_step(x[:, 0], h_init, c_init,
                 ours.weight_ih_l0, ours.weight_hh_l0, ours.bias_ih_l0, ours.bias_hh_l0)
print(f"step t=0 of layer 0: i, f, g, o each {list(step.i.shape)}; "
      f"mean forget gate {step.f.mean():.3f} (about 0.5 at initialisation)")
torch.testing.assert_close(step.c, step.f * c_init + step.i * step.g)  # c_0 = f_0 ⊙ c_{-1} + i_0 ⊙ g_0
torch.testing.assert_close(step.h, step.o * torch.tanh(step.c))  # h_0 = o_0 ⊙ tanh(c_0)
_, (hn_step0, _) = ours(x[:, :1])  # the whole LSTM over step 0 alone
torch.testing.assert_close(step.h, hn_step0[0])  # its layer 0's h_0: the same numbers
print("c_t = f_t*c_(t-1) + i_t*g_t and h_t = o_t*tanh(c_t) hold for that step, whose h_0 is the "
      "LSTM's layer 0 h_0")
