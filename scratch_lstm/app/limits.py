"""What the machine can hold: its memory and CPUs, and the size checks the commands' flags pass.

A count flag (``--epochs``, ``--chrono-t-max``, steps) is at most :data:`MAX_COUNT`, so that the
arithmetic on it in floats never overflows. A size flag (``--hidden-size``, ``--num-layers``,
``--batch-size``, ``--seq-len``,
``--num-classes``, ...) is refused before anything is allocated when even a lower bound of what it
needs exceeds the memory this process may use; the message says both numbers. ``--threads`` is
capped at the CPUs that exist. The bounds are lower bounds (the weights, and the states every
backend keeps for backward), so nothing that fits is ever refused; what passes may still be slow.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TrainingError

MAX_COUNT = 2**53  # the largest count (epochs, steps, a timescale) that float64 holds exactly
FLOAT32_MAX = 3.4028234663852886e38  # the largest float32: a bias beyond it becomes inf

_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
                  Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))  # cgroup v1


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what :mod:`platform` knows: for a
    benchmark's line that names the machine."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cpu_count() -> int:
    """The CPUs this machine has (``os.cpu_count()``; 1 if unknown)."""
    return os.cpu_count() or 1


def memory_limit(device=None) -> tuple[int, str]:
    """``(bytes, what limits them)``: the memory a tensor on ``device`` may use here. On a GPU its
    memory; else the smallest of the physical memory, a container's (cgroup) limit and what the
    address-space limit (``ulimit -v``) leaves beside the address space this process already
    holds (torch's libraries alone take gigabytes of it)."""
    if device is not None and getattr(device, "type", device) == "cuda":
        import torch

        total = torch.cuda.get_device_properties(device).total_memory
        return total, f"the GPU's memory ({torch.cuda.get_device_name(device)})"
    found = []
    try:
        found.append((os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "physical memory"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            found.append((int(text), "the container's memory limit (cgroup)"))
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            held = address_space_held()
            found.append((max(soft - held, 0), f"what the address-space limit (ulimit -v, {fmt_bytes(soft)}) "
                                               f"leaves beside the {fmt_bytes(held)} this process holds"))
    except (ImportError, ValueError, OSError):
        pass
    return min(found) if found else (2**63 - 1, "the largest size torch can index")


def address_space_held() -> int:
    """Bytes of address space this process holds now (``VmSize``; 0 where the system does not say)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def fmt_bytes(n: int) -> str:
    """``n`` bytes in binary units (``1.5 GiB``); beyond EiB as a power of ten (``1e+30 bytes``),
    an integer too large for a float (a size flag of 400 digits) included."""
    if n >= 2**70:
        digits = str(int(n))
        return f"{digits[0]}e+{len(digits) - 1} bytes" if len(digits) > 300 else f"{int(n):.2g} bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            break
        n /= 1024
    return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"


def lstm_classifier_parameters(input_size: int, hidden_size: int, num_layers: int,
                               num_classes: int) -> int:
    """Parameters of :class:`~scratch_lstm.LSTMClassifier`: per layer ``4H(Q + H) + 8H`` (the
    gates' weights and two biases; ``Q`` the layer's input size), then the head ``H·C + C``."""
    H = hidden_size
    layers = 4 * H * (input_size + H) + 8 * H + (num_layers - 1) * (4 * H * (H + H) + 8 * H)
    return layers + H * num_classes + num_classes


# What a model costs beyond its tensors' bytes, per layer and per layer and time step: lower bounds
# of what was measured (CPU, torch 2.11; RSS growth over 2,000 to 3,000 layers of hidden size 1):
# a layer's four Parameters and their storages took about 6 KB; a forward that autograd records
# kept about 18 KB per layer and step on the teaching path (every op of the step is a node with
# its saved tensors) and about 0.7 KB on the fused and torch paths (one saved set per step).
LAYER_BYTES = 4096
STEP_GRAPH_BYTES = {"scratch": 16384}  # the teaching path; every other backend: OTHER_STEP_GRAPH_BYTES
OTHER_STEP_GRAPH_BYTES = 512


def overhead_bytes(num_layers: int, steps: int, backend: str = "scratch", graph: bool = True) -> int:
    """A lower bound of the memory a model of ``num_layers`` layers takes beyond its tensors'
    bytes: per layer its Parameter objects, and, when a forward over ``steps`` steps is recorded
    for backward (``graph``), per layer and step what autograd keeps (:data:`STEP_GRAPH_BYTES`).
    ``inspect --num-layers 100000 --hidden-size 1`` holds few weights but 2.8 million recorded
    steps."""
    per_step = STEP_GRAPH_BYTES.get(backend, OTHER_STEP_GRAPH_BYTES) if graph else 0
    return num_layers * (LAYER_BYTES + steps * per_step)


def check_fits(need: int, what: str, device=None, hint: str = "") -> None:
    """:class:`TrainingError` if ``need`` bytes (a lower bound of ``what``) exceed
    :func:`memory_limit`; the message gives both and ``hint``."""
    limit, source = memory_limit(device)
    if need > limit:
        raise TrainingError(f"{what} needs at least {fmt_bytes(need)} of memory, more than this "
                            f"machine can hold: {source} is {fmt_bytes(limit)}"
                            + (f"; {hint}" if hint else ""))


def training_bytes(input_size: int, steps: int, hidden_size: int, num_layers: int, batch: int,
                   itemsize: int, backend: str = "fused") -> int:
    """A lower bound of a training step's memory: the weights, their gradients and Adam's two
    moments (4 copies), a batch of input, h and c of every step and layer kept for backward, and
    the per-layer overhead of ``backend`` (:func:`overhead_bytes`)."""
    P = lstm_classifier_parameters(input_size, hidden_size, num_layers, 10)
    return (itemsize * (4 * P + batch * steps * input_size + 2 * batch * steps * num_layers * hidden_size)
            + overhead_bytes(num_layers, steps, backend))


def check_training_fits(input_size: int, steps: int, hidden_size: int, num_layers: int,
                        batch: int, itemsize: int, device=None, backend: str = "fused") -> None:
    """Refuse (:class:`TrainingError`) a model and batch that cannot fit, naming the flags and the
    largest ``--hidden-size`` that would (if one does)."""
    need = training_bytes(input_size, steps, hidden_size, num_layers, batch, itemsize, backend)
    limit, _ = memory_limit(device)
    if need <= limit:
        return
    fits = lambda H: training_bytes(input_size, steps, H, num_layers, batch, itemsize, backend) <= limit  # noqa: E731
    hint = ""
    if fits(1):
        low, high = 1, hidden_size  # fits(low), not fits(high)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if fits(mid) else (low, mid)
        hint = f"with these other settings --hidden-size {low} is the most that fits"
    else:
        hint = "lower --num-layers or --batch-size"
    check_fits(need, f"--hidden-size {hidden_size} --num-layers {num_layers} with batches of "
                     f"{batch} sequences of {steps} steps (training)", device, hint)
