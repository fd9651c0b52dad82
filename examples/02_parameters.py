"""Example 2: the parameters: the lecture's listing, the closed-form count and the per-gate split.

Teaches: where the 821,770 parameters of the lecture's classifier live, how the four gates share each
weight matrix (rows i, f, g, o), how to count them without building a module (the LSTM's
819,200, plus 2,570 for the Linear head), and the textbook names (W_ii, W_hf, b_io, ...) of all
16 per-layer gate tensors as views into the stacked parameters.
Runs in about 2 seconds on a CPU.

    python examples/02_parameters.py
"""

import torch

from scratch_lstm import LSTMClassifier, format_parameters, gate_weights, lstm_num_parameters

torch.manual_seed(0)
model = LSTMClassifier(input_size=28, hidden_size=256, num_classes=10, num_layers=2)
print(format_parameters(model))

I, H, K = 28, 256, 2
layer0 = 4 * H * (I + H + 2)  # 4 gates x (input weights + recurrent weights + 2 biases)
layer1 = 4 * H * (H + H + 2)  # layer 1 reads layer 0's hidden state (H features)
head = H * 10 + 10
print(f"\nclosed form: layer 0 = 4*{H}*({I}+{H}+2) = {layer0:,}; layer 1 = 4*{H}*({H}+{H}+2) = "
      f"{layer1:,}; Linear = {head:,}; total {layer0 + layer1 + head:,}")
lstm_only = lstm_num_parameters(I, H, K)  # counts nn.LSTM's parameters only: no Linear head
print(f"lstm_num_parameters(28, 256, num_layers=2) = {lstm_only:,}: the LSTM alone, without the "
      f"Linear head; + {head:,} for the head = {lstm_only + head:,}")
assert lstm_only + head == sum(p.numel() for p in model.parameters())
print(f"with proj_size=64 and bidirectional: "
      f"{lstm_num_parameters(I, H, K, bidirectional=True, proj_size=64):,}")

# Textbook names for layer 0: every gate has an input weight W_i*, a recurrent weight W_h* and two
# biases b_i*, b_h*: 4 gates x 4 = 16 tensors, each a block of rows of one stacked parameter.
views = gate_weights(model.rnn, layer=0)
stacked = {"W_i": "weight_ih_l0", "W_h": "weight_hh_l0", "b_i": "bias_ih_l0", "b_h": "bias_hh_l0"}
print(f"\nlayer 0 under textbook names: {len(views)} views, rows of the stacked parameters")
print(f"  {'gate':<16}{'rows':<11}" + "".join(f"{name:<18}" for name in stacked.values()).rstrip())
for k, (gate, label) in enumerate(zip("ifgo", ("input", "forget", "candidate", "output"))):
    rows = f"{k * H}:{(k + 1) * H}"
    cells = "".join(f"{p + gate} {list(views[p + gate].shape)}".ljust(18) for p in stacked)
    print(f"  {f'{gate} ({label})':<16}{rows:<11}{cells}".rstrip())
same = views["W_if"].data_ptr() == model.rnn.weight_ih_l0[H : 2 * H].data_ptr()
print(f"W_if is rows {H}:{2 * H} of weight_ih_l0, the same memory (a view, not a copy): {same}")
