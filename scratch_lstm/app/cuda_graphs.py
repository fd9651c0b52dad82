"""Replay a whole step (forward, backward, optimizer) from a CUDA graph: no Python per time step.

The Triton LSTM launches one small kernel per time step and layer, a few microseconds of GPU work
each, which is about what Python and the driver need to launch one. A CUDA graph records every
launch of a step once; a replay then sends them all to the GPU with a single call.

A graph replays *exactly* what was recorded: the same kernels on the same memory. So inputs are
copied into static buffers before each replay, outputs come back in static buffers that the next
replay overwrites, shapes must not change (a smaller last batch runs eagerly instead), and every
number the step reads that may change between replays must live in a tensor (for a learning-rate
schedule: ``torch.optim.Adam(..., lr=torch.tensor(lr), capturable=True)`` and ``fill_`` the new
value; a Python float would be baked into the graph).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class CUDAGraphStep:
    """Run ``fn(*inputs)`` as a CUDA graph replay whenever the inputs have the captured shapes.

    The first ``warmup`` calls with a new shape run eagerly on a side stream (they are real calls:
    the work happens and their results are returned), as torch's CUDA-graph notes require; the
    next call with that shape records the graph and replays it; later calls with the same shapes,
    dtypes and device only copy the inputs in and replay. Calls with other shapes (such as an
    epoch's smaller last batch), or with CPU tensors, run ``fn`` eagerly. If recording fails, the
    step says why once (``on_fallback``) and runs eagerly from then on.

    ``fn`` takes tensors and returns tensors (a tensor or a tuple of them) or ``None``. The
    tensors a replay returns are the graph's static outputs: read them before the next call.
    """

    def __init__(self, fn: Callable, warmup: int = 3, on_fallback: Callable[[str], None] | None = None):
        self.fn = fn
        self.warmup = warmup
        self.on_fallback = on_fallback
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key = None  # (shape, dtype, device) of every input of the recorded graph
        self.static_inputs: list[Tensor] = []
        self.static_outputs = None
        self.disabled = False
        self._seen: dict = {}  # calls so far per input key, for the warm-up
        self._side_stream: torch.cuda.Stream | None = None
        self.replays = 0  # how many calls were served by a replay (for tests and logs)

    @staticmethod
    def _key(inputs) -> tuple:
        return tuple((tuple(t.shape), t.dtype, t.device) for t in inputs)

    def __call__(self, *inputs: Tensor):
        """``fn(*inputs)``, by replay when possible."""
        key = self._key(inputs)
        if self.graph is not None and key == self.key:
            for static, t in zip(self.static_inputs, inputs):
                static.copy_(t)
            self.graph.replay()
            self.replays += 1
            return self.static_outputs
        if self.disabled or self.graph is not None or not all(t.is_cuda for t in inputs):
            return self.fn(*inputs)
        seen = self._seen.get(key, 0)
        self._seen[key] = seen + 1
        if seen < self.warmup:  # warm up on a side stream (cuBLAS handles, autotuning, allocations)
            if self._side_stream is None:
                self._side_stream = torch.cuda.Stream()
            stream = self._side_stream
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                out = self.fn(*inputs)
            torch.cuda.current_stream().wait_stream(stream)
            return out
        return self._record(key, inputs)

    def _record(self, key, inputs):
        static_inputs = [t.clone() for t in inputs]
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                static_outputs = self.fn(*static_inputs)
        except Exception as e:  # capture is fragile (a host sync, a CPU tensor): fall back, say so
            self.disabled = True
            _release_rng_from_failed_capture()
            if self.on_fallback is not None:
                self.on_fallback(f"CUDA graph capture failed ({type(e).__name__}: {e}); running eagerly")
            torch.cuda.synchronize()
            return self.fn(*inputs)
        self.graph, self.key = graph, key
        self.static_inputs, self.static_outputs = static_inputs, static_outputs
        graph.replay()  # recording ran nothing: this replay does the work of this call
        self.replays += 1
        return static_outputs


def _release_rng_from_failed_capture() -> None:
    """Give the CUDA generator back to ordinary (eager) use after a capture that failed.

    Recording puts the current device's default generator into capture mode and only a capture
    that ends well takes it out again; after a failed one every later random op on that device
    (weight init, dropout) raises "Offset increment outside graph capture encountered
    unexpectedly" (seen with torch 2.11 on an H200). A clone of its state has the same seed and
    offset and is not in capture mode, so the random stream continues where it was.
    """
    gen = torch.cuda.default_generators[torch.cuda.current_device()]
    gen.graphsafe_set_state(gen.clone_state())
