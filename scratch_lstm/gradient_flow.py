r"""The gradient through time: how much of the loss's gradient reaches each step, from the equations.

On the reading path this comes after :mod:`scratch_lstm.layer`, read with ``docs/why-lstm.md``,
which says why the cell path below matters: :func:`backward_through_time` is the textbook
backward through time of one layer, one line per derivative, in plain tensor code. Next,
:mod:`scratch_lstm.variants` with ``docs/why-gates.md`` and example 07: what each gate buys.
:mod:`scratch_lstm.fused`, later, is the same derivation made fast, and is tested against it
(``tests/test_fused.py``).

A classifier reads the LSTM's last output only, so the loss's gradient enters at the last step
and every earlier step gets only what the backward pass carries back. Along the cell state
the carrying is done by the forget gates: from ``c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t``,
``∂c_t/∂c_{t-1} = diag(f_t)`` (plus terms through the gates' dependence on ``h_{t-1}``), so
what reaches ``c_t`` from ``c_{T-1}`` along the cell path is::

    dL/dc_{T-1} ⊙ f_{T-1} ⊙ f_{T-2} ⊙ ... ⊙ f_{t+1}        a product of forget gates

With ``f ≈ 0.5`` (``nn.LSTM``'s draw puts every forget bias near 0) that product halves with
every step back, so after 100 steps about ``1e-30`` of the gradient is left; forget gates near
1 (a forget-gate bias, chrono) carry it across.

:func:`gradient_flow` measures this for a model and a batch: the norms of ``dL/dc_t`` and
``dL/dh_t`` at every step of every layer, and the forget-gate product. The gradients are not
autograd's: they come from the backward recursion written out below, on the gates and states
that the teaching path computes (:func:`scratch_lstm.trace_gates`, i.e. :func:`lstm_step`),
in float64 so that gradients hundreds of orders of magnitude down stay representable.
The tests check them against autograd. Per layer, going back in time from the last step::

    dh_t  = dy_t + dz_{t+1} W_hh                  what the output and step t+1 send to h_t
    dc_t  = dc_{t+1} ⊙ f_{t+1} + dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))    (the cell path, and through h_t)
    dz_t  = [dc_t ⊙ g_t ⊙ i_t(1-i_t) | dc_t ⊙ c_{t-1} ⊙ f_t(1-f_t)
             | dc_t ⊙ i_t ⊙ (1-g_t²) | dh_t ⊙ tanh(c_t) ⊙ o_t(1-o_t)]
    dx_t  = dz_t W_ih                             the layer below's dy_t

``dh_t`` and ``dc_t`` are the total derivatives of the loss with respect to ``h_t`` and ``c_t``
(what ``torch.autograd.grad(loss, c_t)`` returns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .classifier import LSTMClassifier
from .gates import GateTrace, trace_gates


@dataclass
class GradientFlow:
    """What :func:`gradient_flow` measured, for ``K`` layers and ``T`` steps (index ``t`` in time).

    ``dc[k, t]`` and ``dh[k, t]`` are the norms (over the batch and the units) of ``dL/dc_t`` and
    ``dL/dh_t`` in layer ``k``; ``log10_forget_product[k, t]`` is ``log10`` of the mean over the
    batch and units of ``f_{t+1} ⊙ ... ⊙ f_{T-1}`` (0 at the last step: the empty product), kept
    as a logarithm because it can be far below float64's smallest number. ``loss`` is the batch's
    mean cross-entropy. All tensors are float64 on the CPU.
    """

    loss: float
    dc: Tensor  # (K, T)
    dh: Tensor  # (K, T)
    log10_forget_product: Tensor  # (K, T)

    def to_dict(self) -> dict:
        """Plain lists and floats for strict JSON: a norm that underflowed float64 is 0.0, and a
        value JSON cannot hold is None (``log10_forget_product`` is -inf where a forget gate was
        exactly 0, which makes the product 0)."""
        def plain(t: Tensor) -> list:
            return [[v if math.isfinite(v) else None for v in row] for row in t.tolist()]

        return {"loss": self.loss if math.isfinite(self.loss) else None, "dc_norm": plain(self.dc),
                "dh_norm": plain(self.dh), "log10_forget_product": plain(self.log10_forget_product)}


def gradient_flow(model: LSTMClassifier, x: Tensor, y: Tensor) -> GradientFlow:
    """Measure how much of the cross-entropy's gradient reaches each step of ``model`` on ``x``.

    ``model`` is an :class:`~scratch_lstm.LSTMClassifier` of any backend (the gates are traced
    through the teaching path, as :func:`~scratch_lstm.trace_gates` does, and an ``nn.LSTM``
    through a scratch copy); ``x`` is ``(B, T, I)``, ``y`` the ``(B,)`` labels. The model is
    read as in evaluation (no dropout) from zero initial states; its weights are not changed and
    no ``.grad`` is written. See the module docstring for the recursion.
    """
    if x.dim() != 3:
        raise ValueError(f"gradient_flow expects a batch x of shape (B, T, I), got {list(x.shape)}")
    rnn = model.rnn
    if getattr(rnn, "proj_size", 0) or rnn.bidirectional:
        raise ValueError("gradient_flow covers unidirectional LSTMs without projection")
    if getattr(rnn, "variant", "vanilla") != "vanilla":
        raise ValueError(f"gradient_flow's recursion is the vanilla cell's; variant={rnn.variant!r} has other "
                         "equations (run autograd on trace_gates' states instead)")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            traces = [_time_major(tr) for tr in trace_gates(rnn, x)]  # one per layer, bottom up
    finally:
        model.train(was_training)
    T, B, H = traces[-1].h.shape
    w_lin, b_lin = model.lin.weight.detach().double(), model.lin.bias.detach().double()
    logits = traces[-1].h[-1] @ w_lin.T + b_lin  # (B, C): the head on the last step's output
    loss = F.cross_entropy(logits, y)
    # dL/dlogits of the batch-mean cross-entropy: (softmax - one_hot) / B
    dlogits = (torch.softmax(logits, dim=1) - F.one_hot(y, logits.size(1)).double()) / B
    dy = torch.zeros(T, B, H, dtype=torch.float64)  # (T, B, H): only the last output is read
    dy[-1] = dlogits @ w_lin
    dc_norms, dh_norms, products = [], [], []
    for k in reversed(range(len(traces))):  # from the top layer down
        w_ih = getattr(rnn, f"weight_ih_l{k}").detach().double()
        w_hh = getattr(rnn, f"weight_hh_l{k}").detach().double()
        dc, dh, dy = backward_through_time(traces[k], w_ih, w_hh, dy)  # dy: the layer below's
        dc_norms.insert(0, dc.flatten(1).norm(dim=1))
        dh_norms.insert(0, dh.flatten(1).norm(dim=1))
        products.insert(0, _log10_mean_forget_product(traces[k].f))
    return GradientFlow(loss.item(), torch.stack(dc_norms), torch.stack(dh_norms), torch.stack(products))


def backward_through_time(trace: GateTrace, w_ih: Tensor, w_hh: Tensor, dy: Tensor
                          ) -> tuple[Tensor, Tensor, Tensor]:
    """One layer's backward recursion (module docstring) from its gates and states.

    ``trace`` holds ``i, f, g, o, c`` time-major ``(T, B, H)`` (the layer started from zero
    states), ``w_ih (4H, I)`` and ``w_hh (4H, H)`` are its weights and ``dy (T, B, H)`` the
    gradient of the loss with respect to its outputs. Returns ``dL/dc_t`` and ``dL/dh_t``, each
    ``(T, B, H)``, and ``dL/dx_t`` ``(T, B, I)``.
    """
    T = dy.size(0)
    dc_all, dh_all, dx_all = torch.empty_like(dy), torch.empty_like(dy), []
    dc_next = torch.zeros_like(dy[0])  # dc_{t+1}, and f_{t+1}: nothing after the last step
    f_next = torch.zeros_like(dy[0])
    dh_rec = torch.zeros_like(dy[0])  # dz_{t+1} W_hh
    for t in reversed(range(T)):
        i, f, g, o, c = trace.i[t], trace.f[t], trace.g[t], trace.o[t], trace.c[t]
        c_prev = trace.c[t - 1] if t > 0 else torch.zeros_like(c)
        tanh_c = torch.tanh(c)
        dh = dy[t] + dh_rec  # dh_t = dy_t + dz_{t+1} W_hh
        dc = dc_next * f_next + dh * o * (1 - tanh_c**2)  # dc_t = dc_{t+1} ⊙ f_{t+1} + dh_t ⊙ o_t ⊙ tanh'(c_t)
        dz = torch.cat([dc * g * i * (1 - i),  # through i_t = σ(z_i)
                        dc * c_prev * f * (1 - f),  # through f_t = σ(z_f)
                        dc * i * (1 - g**2),  # through g_t = tanh(z_g)
                        dh * tanh_c * o * (1 - o)], dim=1)  # through o_t = σ(z_o); (B, 4H)
        dh_rec = dz @ w_hh  # sent to h_{t-1}
        dx_all.append(dz @ w_ih)  # (B, I): the layer below's dy_t
        dc_all[t], dh_all[t] = dc, dh
        dc_next, f_next = dc, f
    return dc_all, dh_all, torch.stack(dx_all[::-1])


def _time_major(trace: GateTrace) -> GateTrace:
    """A batch-first trace ``(B, T, H)`` as float64 ``(T, B, H)``."""
    fields = {name: trace[name].transpose(0, 1).double() for name in ("i", "f", "g", "o", "c", "h")}
    return GateTrace(trace.layer, trace.direction, **fields, h_proj=None)


def _log10_mean_forget_product(f: Tensor) -> Tensor:
    """``log10`` of the batch-and-unit mean of ``f_{t+1} ⊙ ... ⊙ f_{T-1}`` for every t, ``(T,)``,
    summed as logarithms (the product itself can be below float64's smallest number)."""
    log_f = torch.log(f).flatten(1)  # (T, B*H); -inf where a gate is exactly 0
    from_t = torch.flip(torch.cumsum(torch.flip(log_f, [0]), 0), [0])  # Σ_{s>=t} log f_s
    after = torch.cat([from_t[1:], torch.zeros_like(from_t[:1])])  # Σ_{s>t} log f_s (no -inf - -inf)
    log_mean = torch.logsumexp(after, dim=1) - math.log(after.size(1))
    return log_mean / math.log(10)


__all__ = ["GradientFlow", "gradient_flow", "backward_through_time"]
