"""The lecture's sequence classifier: an LSTM over the rows of an image, a Linear on the last step."""

from __future__ import annotations

from torch import Tensor, nn

from .impls import IMPLS
from .lstm import LSTM

BACKENDS = (*IMPLS, "torch")  # this project's impls, and nn.LSTM itself


class LSTMClassifier(nn.Module):
    """``x (B, T, I) -> logits (B, num_classes)``: the lecture's ``RecurrentNeuralNetworkClass``.

    The LSTM (``batch_first``) reads ``T`` steps of ``I`` features (the lecture's ``[N x L x Q]``);
    its last step's output goes through ``lin``. Submodules are named ``rnn`` and ``lin`` as in the
    lecture's model, so a state dict of the reference model (``reference/lecture_rnn.py``) loads
    into this one and back.

    Args:
        backend: ``"scratch"`` (:class:`scratch_lstm.LSTM`, the teaching path), ``"fused"``
            or ``"triton"`` (:class:`scratch_lstm.LSTM` with that ``impl``) or ``"torch"``
            (``nn.LSTM``). All share parameter names, so checkpoints move freely between them.
    """

    def __init__(
        self,
        input_size: int = 28,
        hidden_size: int = 256,
        num_classes: int = 10,
        num_layers: int = 2,
        dropout: float = 0.0,
        backend: str = "scratch",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self.input_size, self.hidden_size, self.num_classes = input_size, hidden_size, num_classes
        factory = {"device": device, "dtype": dtype}
        args = (input_size, hidden_size, num_layers)
        kwargs = {"batch_first": True, "dropout": dropout, **factory}
        if backend == "torch":
            self.rnn = nn.LSTM(*args, **kwargs)
        else:
            self.rnn = LSTM(*args, **kwargs, impl=backend)
        self.lin = nn.Linear(hidden_size, num_classes, **factory)

    def forward(self, x: Tensor, clamps=()) -> Tensor:
        """Logits ``(B, num_classes)`` for a batch of sequences ``x (B, T, I)``; ``clamps``
        (:class:`scratch_lstm.GateClamp`) run a lesioned LSTM on the teaching path, for every
        backend but ``"torch"`` (``nn.LSTM`` has no gate to hold: rebuild with another backend,
        the weights load as they are)."""
        if x.dim() != 3 or x.size(-1) != self.input_size:
            raise ValueError(
                f"LSTMClassifier expects x of shape (N, L, {self.input_size}) (batch, steps, "
                f"features), got {list(x.shape)}; reshape images with x.view(N, L, Q)"
            )
        if clamps and self.backend == "torch":
            raise ValueError("clamps need this project's LSTM: backend 'torch' is nn.LSTM, whose gates "
                             "cannot be held; build the classifier with backend='scratch' and load the "
                             "same state dict")
        rnn_out, _ = self.rnn(x, clamps=clamps) if clamps else self.rnn(x)  # (B, T, H)
        return self.lin(rnn_out[:, -1])  # (B, C): the last step's output
