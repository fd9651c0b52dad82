"""The CUDA-graph training step, as far as a CPU can check it (tests/test_gpu.py replays on a GPU).

A graph replays a recorded step, so everything it reads that changes between steps must be a
tensor updated in place (the learning rate), and checkpoints must not carry a graph run's
device-bound optimizer settings to another machine.
"""

import pytest
import torch

from scratch_lstm import LSTMClassifier
from scratch_lstm.app.checkpoints import load_optimizer_state, portable_optimizer_state
from scratch_lstm.app.config import TrainConfig
from scratch_lstm.app.cuda_graphs import CUDAGraphStep
from scratch_lstm.app.train import make_optimizer, set_lr, uses_cuda_graph


def test_cpu_tensors_run_eagerly():
    calls = []
    step = CUDAGraphStep(lambda x: calls.append(1) or x * 2, warmup=0)
    for _ in range(3):
        assert torch.equal(step(torch.ones(2)), torch.full((2,), 2.0))
    assert len(calls) == 3 and step.replays == 0 and step.graph is None


@pytest.mark.parametrize("backend, device, flag, expected", [
    ("triton", "cuda", "auto", True), ("fused", "cuda", "auto", False), ("fused", "cuda", "on", True),
    ("triton", "cuda", "off", False), ("triton", "cpu", "on", False),
])
def test_which_runs_replay_graphs(backend, device, flag, expected):
    cfg = TrainConfig(backend=backend, cuda_graph=flag)
    assert uses_cuda_graph(cfg, torch.device(device)) is expected


def test_set_lr_writes_a_tensor_rate_in_place_and_a_float_rate_by_value():
    model = torch.nn.Linear(2, 2)
    for lr in (1e-3, torch.tensor(1e-3)):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        before = opt.param_groups[0]["lr"]
        set_lr(opt, 5e-4)
        after = opt.param_groups[0]["lr"]
        assert float(after) == pytest.approx(5e-4)
        assert (after is before) == torch.is_tensor(lr)  # the graph's tensor stays the same object


def test_optimizer_state_is_portable_between_graph_and_eager_runs():
    """A checkpoint written by a capturable (graph) optimizer loads into a plain one and back, with
    the same moments, step and rate; the rate stays a tensor where the run needs one."""
    torch.manual_seed(0)
    model = LSTMClassifier(4, 6, num_layers=1)
    cfg = TrainConfig(lr=3e-3)
    plain = make_optimizer(model, cfg, capturable=False)
    model(torch.randn(5, 3, 4)).sum().backward()
    plain.step()
    state = portable_optimizer_state(plain.state_dict())
    assert all(g["capturable"] is False and isinstance(g["lr"], float) for g in state["param_groups"])

    graph_opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(1.0), capturable=True)
    load_optimizer_state(graph_opt, state)
    group = graph_opt.param_groups[0]
    assert group["capturable"] is True and torch.is_tensor(group["lr"])
    assert float(group["lr"]) == pytest.approx(3e-3)  # a float32 tensor
    back = make_optimizer(model, cfg, capturable=False)
    load_optimizer_state(back, portable_optimizer_state(graph_opt.state_dict()))
    assert back.param_groups[0]["capturable"] is False
    assert back.param_groups[0]["lr"] == pytest.approx(3e-3)
    for p in model.parameters():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(back.state[p][key].float(), plain.state[p][key].float())
