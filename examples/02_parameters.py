# %% [markdown]
# # Example 2: the parameters
#
# **Teaches:** where the 821,770 parameters of the lecture's classifier live, how the four gates
# share each weight matrix (rows i, f, g, o), how to count them without building a module (the
# LSTM's 819,200, plus 2,570 for the Linear head), and the textbook names (W_ii, W_hf, b_io, ...)
# of all 16 per-layer gate tensors as views into the stacked parameters.
#
# **Know first:** the six gate equations (scratch_lstm/cell.py); `nn.LSTM`'s arguments.
#
# **Runs in** about 2 seconds on a CPU, as a script or as a notebook.
#
#     python examples/02_parameters.py

# %%
import torch

from scratch_lstm import LSTMClassifier, format_parameters, gate_weights, lstm_num_parameters
from scratch_lstm.exercises import COUNT_CONFIG, check_gate_rows, check_parameter_count

# %% [markdown]
# ## The lecture's classifier, parameter by parameter

# %%
torch.manual_seed(0)
model = LSTMClassifier(input_size=28, hidden_size=256, num_classes=10, num_layers=2)
print(format_parameters(model))

# %% [markdown]
# ## The closed form
# Each gate has an input weight (H x I), a recurrent weight (H x H) and two biases (H each), and
# there are four gates: 4H (I + H + 2) per layer. Layer 1 reads layer 0's hidden state, so its
# input size is H.

# %%
I, H, K = 28, 256, 2
layer0 = 4 * H * (I + H + 2)  # 4 gates x (input weights + recurrent weights + 2 biases)
layer1 = 4 * H * (H + H + 2)  # layer 1 reads layer 0's hidden state (H features)
head = H * 10 + 10
print(f"closed form: layer 0 = 4*{H}*({I}+{H}+2) = {layer0:,}; layer 1 = 4*{H}*({H}+{H}+2) = "
      f"{layer1:,}; Linear = {head:,}; total {layer0 + layer1 + head:,}")
lstm_only = lstm_num_parameters(I, H, K)  # counts nn.LSTM's parameters only: no Linear head
print(f"lstm_num_parameters(28, 256, num_layers=2) = {lstm_only:,}: the LSTM alone, without the "
      f"Linear head; + {head:,} for the head = {lstm_only + head:,}")
assert lstm_only + head == sum(p.numel() for p in model.parameters())
print(f"with proj_size=64 and bidirectional: "
      f"{lstm_num_parameters(I, H, K, bidirectional=True, proj_size=64):,}")

# %% [markdown]
# ## Textbook names, as views
# Every gate has an input weight W_i\*, a recurrent weight W_h\* and two biases b_i\*, b_h\*:
# 4 gates x 4 = 16 tensors for layer 0, each a block of rows of one stacked parameter.

# %%
views = gate_weights(model.rnn, layer=0)
stacked = {"W_i": "weight_ih_l0", "W_h": "weight_hh_l0", "b_i": "bias_ih_l0", "b_h": "bias_hh_l0"}
print(f"layer 0 under textbook names: {len(views)} views, rows of the stacked parameters")
print(f"  {'gate':<16}{'rows':<11}" + "".join(f"{name:<18}" for name in stacked.values()).rstrip())
for k, (gate, label) in enumerate(zip("ifgo", ("input", "forget", "candidate", "output"))):
    rows = f"{k * H}:{(k + 1) * H}"
    cells = "".join(f"{p + gate} {list(views[p + gate].shape)}".ljust(18) for p in stacked)
    print(f"  {f'{gate} ({label})':<16}{rows:<11}{cells}".rstrip())
same = views["W_if"].data_ptr() == model.rnn.weight_ih_l0[H : 2 * H].data_ptr()
print(f"W_if is rows {H}:{2 * H} of weight_ih_l0, the same memory (a view, not a copy): {same}")

# %% [markdown]
# ## Exercises
# **1.** How many parameters does `nn.LSTM(**COUNT_CONFIG)` hold: input 28, hidden 64, 2 layers,
# bidirectional? Work it out by the closed form, without building the module. (Each direction of
# each layer has its own weights; what does layer 1 read?)
#
# **2.** Which rows of `nn.LSTM(28, 256).weight_ih_l0` hold the candidate's input weight W_ig?
# Give `(start, stop)`, stop exclusive.

# %%
print(COUNT_CONFIG)
count = None  # exercise 1: your count, a whole number
g_rows = None  # exercise 2: (start, stop)

# %%
print(check_parameter_count(count))
print(check_gate_rows(g_rows))
