# %% [markdown]
# # Example 3: equivalence with nn.LSTM
#
# **Teaches:** that the scratch LSTM is `nn.LSTM`, number for number (float64): copy the weights
# from `nn.LSTM`, compare outputs and gradients, copy them back; on an awkward configuration (2
# layers, bidirectional, projection, packed sequences of unequal length), for the teaching path
# and the fused path. Packed input always takes the teaching path (the fallback rules are in
# scratch_lstm/impls.py), so the "fused / packed" row checks that fallback, not fused.py: the row
# says so.
#
# **Know first:** the six gate equations (scratch_lstm/cell.py) and example 02's parameter names.
#
# **Runs in** about 2 seconds on a CPU, as a script or as a notebook.
#
#     python examples/03_equivalence.py

# %%
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import scratch_lstm
from scratch_lstm.exercises import check_gru_step, check_lstm_step
from scratch_lstm.impls import layer_function

# %% [markdown]
# ## nn.LSTM's weights in the scratch LSTM: outputs and 21 gradients

# %%
torch.manual_seed(0)
cfg = dict(input_size=5, hidden_size=8, num_layers=2, bidirectional=True, proj_size=3)
theirs = nn.LSTM(**cfg, dtype=torch.float64)

for impl in ("scratch", "fused"):
    ours = scratch_lstm.LSTM(**cfg, dtype=torch.float64, impl=impl)
    ours.load_state_dict(theirs.state_dict(), strict=True)  # nn.LSTM -> scratch
    for form in ("padded", "packed"):
        x = torch.randn(7, 4, 5, dtype=torch.float64)
        results = []
        for module in (theirs, ours):
            module.zero_grad()
            xi = x.clone().requires_grad_()
            inp = pack_padded_sequence(xi, [7, 2, 5, 3], enforce_sorted=False) if form == "packed" else xi
            out, (h, c) = module(inp)
            out = out.data if form == "packed" else out
            (out.sin().sum() + h.sum() + c.pow(2).sum()).backward()
            results.append([out, h, c, xi.grad] + [p.grad for p in module.parameters()])
        worst = max((a - b).abs().max().item() for a, b in zip(*results))
        # which layer function ran: the one impls.py picks for this impl and input form
        run = layer_function(impl, tensors=(), batch_sizes=[4] if form == "packed" else None)
        ran = getattr(run, "func", run).__name__  # lstm_layer (teaching path) or fused_lstm_layer
        note = ": packed input falls back to the teaching path" if impl == "fused" and ran == "lstm_layer" else ""
        print(f"{impl:>7} / {form:<6}: outputs, h_n, c_n and {len(results[0]) - 3} gradients "
              f"agree to {worst:.1e} (ran {ran}{note})")
        assert worst < 1e-10

# %% [markdown]
# ## And back: the scratch LSTM's weights in nn.LSTM

# %%
back = nn.LSTM(**cfg, dtype=torch.float64)
back.load_state_dict(ours.state_dict(), strict=True)  # scratch -> nn.LSTM
print("copied back into nn.LSTM (strict):",
      all(torch.equal(a, b) for a, b in zip(back.parameters(), theirs.parameters())))

# %% [markdown]
# ## Exercises
# **1.** Write one LSTM step from the six equations, without looking at cell.py:
# `lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh) -> (h, c)` with `x (B, I)`,
# `h_prev, c_prev (B, H)`, `w_ih (4H, I)`, `w_hh (4H, H)`, `b_ih, b_hh (4H,)` (rows in the order
# i, f, g, o). The check compares it with `nn.LSTMCell` on random inputs: values, then gradients.
#
# **2.** Write one GRU step in `nn.GRU`'s form: `gru_step(x, h_prev, w_ih, w_hh, b_ih, b_hh) -> h`,
# rows r, z, n (reset, update, candidate); `nn.GRU`'s documentation gives the equations. The check
# compares it with `scratch_lstm.gru_step`, itself tested against `nn.GRUCell`.

# %%
my_lstm_step = None  # exercise 1: def my_lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh): ...
my_gru_step = None  # exercise 2: def my_gru_step(x, h_prev, w_ih, w_hh, b_ih, b_hh): ...

# %%
print(check_lstm_step(my_lstm_step))
print(check_gru_step(my_gru_step))
