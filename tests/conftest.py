"""Shared test settings: hypothesis profiles and per-dtype tolerances."""

import os

import torch
from hypothesis import HealthCheck, settings

# Without a GPU, Triton's kernels run in its CPU interpreter (read when the kernels are defined,
# so before anything imports scratch_lstm.triton_lstm).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

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
