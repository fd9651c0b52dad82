# %% [markdown]
# # Example 6: the same gate equations as Triton GPU kernels (impl="triton")
#
# **Teaches:** how scratch_lstm/triton_lstm.py tiles one time step over the GPU (a program per
# block of batch rows x hidden units, all four gates of those units), that its kernels compute what
# lstm_step computes, and, on a GPU, what replaying a CUDA graph buys against cuDNN.
#
# **Know first:** the six gate equations (scratch_lstm/cell.py) and example 03; Triton's idea of a
# program (one instance of a kernel, working on one tile).
#
# **Runs in** a few seconds on a CPU, as a script or as a notebook: without a GPU the kernels run
# in Triton's CPU interpreter (set here). On a GPU it also times a training step of the lecture's
# configuration against nn.LSTM (cuDNN).
#
#     python examples/06_gpu_kernels.py

# %%
import os

import torch

if not torch.cuda.is_available():  # before scratch_lstm.triton_lstm defines its kernels
    os.environ.setdefault("TRITON_INTERPRET", "1")

from scratch_lstm import LSTM, lstm_step  # noqa: E402
from scratch_lstm.app.cuda_graphs import CUDAGraphStep  # noqa: E402
from scratch_lstm.exercises import check_grid_programs, check_lstm_step  # noqa: E402
from scratch_lstm.precision import set_fp32_precision  # noqa: E402
from scratch_lstm.triton_lstm import programs, tiles, triton_lstm_layer  # noqa: E402

device = "cuda" if torch.cuda.is_available() else "cpu"
if device == "cpu":
    print("no CUDA GPU here: the kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1), "
          "and the GPU timing at the end is skipped")
set_fp32_precision("ieee")  # full fp32 on both sides: cuBLAS, cuDNN and the kernels

# %% [markdown]
# ## One step, B=8 rows, I=5 inputs, H=20 hidden units: the kernel against the equations

# %%
torch.manual_seed(0)
B, I, H = 8, 5, 20
x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
w_ih, w_hh = torch.randn(4 * H, I) * 0.3, torch.randn(4 * H, H) * 0.3
b_ih, b_hh = torch.randn(4 * H) * 0.1, torch.randn(4 * H) * 0.1
tiling = tiles(B, H, torch.device(device))
print(f"state (B={B}, H={H}) in tiles of {tiling.block_b} rows x {tiling.block_h} units: a grid of "
      f"{programs(B, H, tiling.block_b, tiling.block_h, tiling.split)} programs, "
      + ("four a tile, one per gate" if tiling.split else "each computing i, f, g, o, c, h for its tile"))

step = lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh)  # the equations, cell.py
args = [t.to(device) for t in (x[None], h, c, w_ih, w_hh, b_ih, b_hh)]
y, (h_kernel, c_kernel) = triton_lstm_layer(*args)  # one step (T=1) on the kernels
print(f"{'':>8} {'lstm_step':>12} {'kernel':>12}   (unit 0 of row 0)")
print(f"{'h_t':>8} {step.h[0, 0].item():>12.7f} {h_kernel[0, 0].item():>12.7f}")
print(f"{'c_t':>8} {step.c[0, 0].item():>12.7f} {c_kernel[0, 0].item():>12.7f}")
err = max((step.h - h_kernel.cpu()).abs().max().item(), (step.c - c_kernel.cpu()).abs().max().item())
print(f"largest difference over all {B}x{H} units: {err:.1e} (float32 rounding)")

# %% [markdown]
# ## A whole two-layer LSTM, forward and backward, against nn.LSTM

# %%
ref = torch.nn.LSTM(I, H, num_layers=2, batch_first=True, device=device)
ours = LSTM(I, H, num_layers=2, batch_first=True, device=device, impl="triton")
ours.load_state_dict(ref.state_dict())
xs = torch.randn(B, 12, I, device=device)
for m in (ref, ours):
    out, (hn, cn) = m(xs)
    (out.sum() + hn.sum()).backward()
grad_err = max(((a.grad - e.grad).norm() / e.grad.norm()).item()
               for a, e in zip(ours.parameters(), ref.parameters()))
print(f"2-layer LSTM over 12 steps: weight gradients equal nn.LSTM's to {grad_err:.1e} (relative)")

# %% [markdown]
# ## On a GPU: a training step of the lecture's configuration, against cuDNN

# %%
if device == "cuda":  # the lecture's configuration: B 128, T 28, H 256, 2 layers, a training step
    ref = torch.nn.LSTM(28, 256, 2, batch_first=True, device="cuda")
    ours = LSTM(28, 256, 2, batch_first=True, device="cuda", impl="triton")
    ours.load_state_dict(ref.state_dict())
    xs = torch.randn(128, 28, 28, device="cuda")

    def train_step(m):
        m.zero_grad(set_to_none=True)
        out, _ = m(xs)
        out.sum().backward()

    def ms(fn, n=20):
        for _ in range(3):
            fn()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / n

    graphed = CUDAGraphStep(lambda _: train_step(ours), warmup=2)
    t_cudnn = ms(lambda: train_step(ref))
    t_eager = ms(lambda: train_step(ours))
    t_graph = ms(lambda: graphed(xs[:0]))
    print(f"lecture-configuration training step on {torch.cuda.get_device_name()}: cuDNN {t_cudnn:.2f} ms, "
          f"triton eager {t_eager:.2f} ms (launch-bound), triton as a CUDA graph {t_graph:.2f} ms "
          f"({t_graph / t_cudnn:.2f}x cuDNN)")
else:
    print("skipped: the training-step timing against cuDNN (it needs a CUDA GPU)")

# %% [markdown]
# ## Exercises
# **1.** A step's launch runs one program per tile of the (B, H) state, or four per tile (one per
# gate) where the tiles are split. How many programs run for a state of B = 100 rows and H = 200
# units in tiles of 16 rows x 64 units, each tile split over four programs?
#
# **2.** The kernel computes the four gates of its units from one product with the stacked
# weights, as lstm_step does. Write that step yourself (example 03's first exercise, if you have
# not): `lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh) -> (h, c)`, rows i, f, g, o.

# %%
programs_count = None  # exercise 1: a whole number
my_lstm_step = None  # exercise 2: def my_lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh): ...

# %%
print(check_grid_programs(programs_count))
print(check_lstm_step(my_lstm_step))
