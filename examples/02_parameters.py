"""Example 2: the parameters: the seed's listing, the closed-form count and the per-gate split.

Teaches: where the 821,770 parameters of the seed classifier live, how the four gates share each
weight matrix (rows i, f, g, o), and how to count them without building a module.
Runs in about a second on a CPU.

    python examples/02_parameters.py
"""

import torch

from scratch_lstm import LSTMClassifier, format_parameters, lstm_num_parameters
from scratch_lstm.gates import gate_weights

torch.manual_seed(0)
model = LSTMClassifier(input_size=28, hidden_size=256, num_classes=10, num_layers=2)
print(format_parameters(model))

I, H, K = 28, 256, 2
layer0 = 4 * H * (I + H + 2)  # 4 gates x (input weights + recurrent weights + 2 biases)
layer1 = 4 * H * (H + H + 2)  # layer 1 reads layer 0's hidden state (H features)
head = H * 10 + 10
print(f"\nclosed form: layer 0 = 4*{H}*({I}+{H}+2) = {layer0:,}; layer 1 = 4*{H}*({H}+{H}+2) = "
      f"{layer1:,}; Linear = {head:,}; total {layer0 + layer1 + head:,}")
print(f"lstm_num_parameters(28, 256, num_layers=2) = {lstm_num_parameters(I, H, K):,}")
print(f"with proj_size=64 and bidirectional: "
      f"{lstm_num_parameters(I, H, K, bidirectional=True, proj_size=64):,}")

views = gate_weights(model.rnn, layer=0)
print("\nnamed views into weight_ih_l0 / weight_hh_l0 / biases (layer 0):")
for name in ("W_ii", "W_if", "W_ig", "W_io", "W_hi", "W_hf", "b_if", "b_hf"):
    print(f"  {name}: {list(views[name].shape)}")
