"""The lecture note's LSTM classifier on sequence-MNIST, built on ``torch.nn.LSTM``.

Kept as the lecture wrote it (names, defaults, print format). Two changes only: the "FILL IN HERE"
is completed (the last time step of ``rnn_out`` goes into ``lin``), and ``h0``/``c0`` are made on
the input's device and dtype instead of a global ``device``.
"""

import numpy as np
import torch
import torch.nn as nn


class RecurrentNeuralNetworkClass(nn.Module):
    """The lecture's recurrent classifier: x [N x L x Q] -> LSTM -> last step -> Linear -> [N x ydim]."""

    def __init__(self, name="rnn", xdim=28, hdim=256, ydim=10, n_layer=3):
        super().__init__()
        self.name = name
        self.xdim = xdim
        self.hdim = hdim
        self.ydim = ydim
        self.n_layer = n_layer  # K

        self.rnn = nn.LSTM(
            input_size=self.xdim, hidden_size=self.hdim, num_layers=self.n_layer, batch_first=True
        )
        self.lin = nn.Linear(self.hdim, self.ydim)

    def forward(self, x):
        # Set initial hidden and cell states
        h0 = torch.zeros(self.n_layer, x.size(0), self.hdim, device=x.device, dtype=x.dtype)
        c0 = torch.zeros(self.n_layer, x.size(0), self.hdim, device=x.device, dtype=x.dtype)
        # RNN
        rnn_out, (hn, cn) = self.rnn(x, (h0, c0))
        # x:[N x L x Q] => rnn_out:[N x L x D]
        # Linear
        out = self.lin(rnn_out[:, -1:]).view(-1, self.ydim)  # FILLED IN: the last time step
        return out


def func_eval(model, data_iter, device):
    """The lecture's evaluation: accuracy of ``model`` over ``data_iter`` (eval mode, no grad)."""
    with torch.no_grad():
        n_total, n_correct = 0, 0
        model.eval()  # evaluate (affects DropOut and BN)
        for batch_in, batch_out in data_iter:
            y_trgt = batch_out.to(device)
            model_pred = model.forward(batch_in.view(-1, 28, 28).to(device))
            _, y_pred = torch.max(model_pred.data, 1)
            n_correct += (y_pred == y_trgt).sum().item()
            n_total += batch_in.size(0)
        val_accr = n_correct / n_total
        model.train()  # back to train mode
    return val_accr


def print_parameters(model):
    """The lecture's "check parameters" listing."""
    np.set_printoptions(precision=3)
    n_param = 0
    for p_idx, (param_name, param) in enumerate(model.named_parameters()):
        if param.requires_grad:
            param_numpy = param.detach().cpu().numpy()  # to numpy array
            n_param += len(param_numpy.reshape(-1))
            print("[%d] name:[%s] shape:[%s]." % (p_idx, param_name, param_numpy.shape))
            print("    val:%s" % (param_numpy.reshape(-1)[:5]))
    print("Total number of parameters:[%s]." % (format(n_param, ",d")))
