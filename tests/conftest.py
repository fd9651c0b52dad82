"""Shared test settings: hypothesis profiles and per-dtype tolerances."""

import os
import signal

import torch
from hypothesis import HealthCheck, settings

# Without a GPU, Triton's kernels run in its CPU interpreter (read when the kernels are defined,
# so before anything imports scratch_lstm.triton_lstm).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# A suite started with Ctrl-C ignored (a background job of a script) would hand that on to every
# command it runs, and the Ctrl-C tests need it as a terminal user has it: Python's own handler here,
# the default in the commands the tests start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Both sides compute in the same dtype; differences come only from summation order.
# float64: rounding is ~1e-16, so 1e-10 leaves room for long products and still catches any
# wrong formula. float32: rounding ~1e-7, amplified through time steps and layers.
TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-4, "atol": 2e-5},
}

# Under autocast, nn.LSTM and ours round to the low dtype in different places, so they are
# compared with a tolerance derived from measurement, in units of the dtype's unit roundoff u
# (bfloat16 2^-8, float16 2^-11), atol = rtol = the value below (torch.testing semantics). Over
# 300 configurations drawn as in tests/oracle.py (batched, T <= 5, H <= 6, <= 2 layers, weights
# U(-0.8, 0.8), hx given) under CPU bfloat16 autocast, the largest error
# max|a - e| / (1 + |e|) against nn.LSTM in float64 was, for outputs / gradients:
#     nn.LSTM 0.0135 / 0.0226    scratch 0.0070 / 0.0215    fused 0.0022 / 0.0086
# so ours and nn.LSTM differ by at most their sum, 0.0205 / 0.0441, i.e. below 6u / 12u.
# LSTMCell (one step, bfloat16 input and hx, weights U(-1, 1)): nn.LSTMCell 0.0107 / 0.0535,
# ours 0.0107 / 0.0535; sum 0.0214 / 0.107, below 6u / 28u (weight gradients from bfloat16
# products of up to 4 rows cancel). float16 (CUDA) was not measured here: the same multiples of
# its u, to be confirmed on a GPU.
#
# On the CPU, nn.LSTM under autocast runs oneDNN's bfloat16 LSTM only where the CPU has bfloat16
# instructions (AVX-512 BF16, AMX); elsewhere (AVX2-only CPUs, ONEDNN_MAX_CPU_ISA=AVX2) it raises
# "could not create a primitive descriptor" or falls back to float32. So the CPU tests compare
# ours against nn.LSTM in float64, which runs everywhere ("vs_float64"). Measured over 300
# configurations drawn as in tests/oracle.py (every input form, packed too, <= 2 layers) under CPU
# bfloat16 autocast, max|a - e| / (1 + |e|) of ours against nn.LSTM in float64, outputs / grads:
#     scratch 1.75u / 4.68u    fused 1.12u / 3.61u    triton (100 configurations) 0.98u / 3.43u
# so 4u / 8u leave about twice the largest error seen.
_UNIT_ROUNDOFF = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}
AUTOCAST_TOL = {
    dtype: {"outputs": 6 * u, "grads": 12 * u, "cell_outputs": 6 * u, "cell_grads": 28 * u,
            "vs_float64_outputs": 4 * u, "vs_float64_grads": 8 * u}
    for dtype, u in _UNIT_ROUNDOFF.items()
}


# The quick check of an install (README: pytest -q -m "not slow", under a minute on 2 cores): the
# equivalence with nn.LSTM and everything about the model itself, for the teaching and fused
# paths, the hand-wired lesson and the exercises' checks (a few seconds each). Every other test
# (the training app end to end, the fault injection, the Triton kernels in their slow
# interpreter, PyTorch's modes, the examples, notebooks, plots and benchmarks) is marked slow; the
# full suite runs both.
QUICK = {"test_equivalence.py", "test_cell.py", "test_parameters.py", "test_lecture.py",
         "test_convert.py", "test_errors.py", "test_dropout.py", "test_fused.py", "test_layout.py",
         "test_gates.py", "test_variants.py", "test_hand_wired.py", "test_exercises.py"}
SLOW_IN_QUICK_FILES = {"test_plots_and_gates_command_write_pngs_and_json"}  # runs the CLI


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: beyond the quick check (README: -m 'not slow')")


def pytest_collection_modifyitems(config, items):
    for item in items:
        triton = getattr(item, "callspec", None) is not None and item.callspec.params.get("impl") == "triton"
        if item.path.name not in QUICK or item.originalname in SLOW_IN_QUICK_FILES or triton:
            item.add_marker("slow")
