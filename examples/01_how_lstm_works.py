"""Example 1: how an LSTM works: the lecture's shape walk-through, scratch and nn.LSTM side by side.

Teaches: what goes in and comes out of an LSTM (X [N, L, Q] -> Y [N, L, D], hn, cn [K, N, D]),
that the last step of the top layer's output is h_n's top row, and one cell step written as the
gate equations. Runs in about 3 seconds on a CPU.

    python examples/01_how_lstm_works.py
"""

import torch
from torch import nn

import scratch_lstm
from scratch_lstm import lstm_step

torch.manual_seed(0)
N, L, Q, D, K = 2, 20, 28, 256, 2  # batch, steps, features in, hidden size, layers

theirs = nn.LSTM(input_size=Q, hidden_size=D, num_layers=K, batch_first=True)
ours = scratch_lstm.from_torch(theirs)  # same weights, gates computed by scratch_lstm/cell.py

x = torch.randn(N, L, Q)  # [N x L x Q]: N sequences of L steps with Q features
for name, rnn in (("nn.LSTM     ", theirs), ("scratch LSTM", ours)):
    rnn_out, (hn, cn) = rnn(x)
    print(f"{name}: x:{list(x.shape)} => rnn_out:{list(rnn_out.shape)}  "
          f"hn:{list(hn.shape)} cn:{list(cn.shape)}")

rnn_out, (hn, cn) = ours(x)
ref_out, (ref_hn, ref_cn) = theirs(x)
print(f"max |scratch - nn.LSTM|: output {(rnn_out - ref_out).abs().max():.2e}, "
      f"h_n {(hn - ref_hn).abs().max():.2e}, c_n {(cn - ref_cn).abs().max():.2e}")
print("the top layer's last output is h_n[-1]:", torch.equal(rnn_out[:, -1], hn[-1]))

# One step of layer 0, by hand: the four gates from the stacked weights (rows i, f, g, o).
step = lstm_step(x[:, 0], torch.zeros(N, D), torch.zeros(N, D),
                 ours.weight_ih_l0, ours.weight_hh_l0, ours.bias_ih_l0, ours.bias_hh_l0)
print(f"step t=0 of layer 0: i, f, g, o each {list(step.i.shape)}; "
      f"mean forget gate {step.f.mean():.3f} (about 0.5 at initialisation)")
torch.testing.assert_close(step.c, step.f * 0 + step.i * step.g)  # c_1 = f ⊙ c_0 + i ⊙ g, c_0 = 0
torch.testing.assert_close(step.h, step.o * torch.tanh(step.c))  # h_1 = o ⊙ tanh(c_1)
print("c = f*c_prev + i*g and h = o*tanh(c) hold for that step")
