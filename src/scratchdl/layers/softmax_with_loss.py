"""Softmax followed by cross-entropy (chapter 5.6.3), the output layer for training."""

from __future__ import annotations

from scratchdl.functions import DELTA, cross_entropy_error, label_indices, softmax
from scratchdl.layers.base import Layer
from scratchdl.runtime.backend import xp


class SoftmaxWithLoss(Layer):
    """loss = cross_entropy_error(softmax(x), t); backward gives the book's (y - t) / N.

    x: (N, C) scores or (C,). t: one-hot like x, or label indices (N,). Each row of
    the book's (y - t) / N is scaled by y_t / (y_t + 1e-7), the derivative of the
    1e-7 that the loss adds inside the log, so backward is the exact gradient of the
    loss that forward reports (the factor differs from 1 by less than 1e-7 / y_t).
    """

    def forward(self, x, t, train: bool = True):
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, t)

    def backward(self, dout=1):
        y = self.y.reshape(-1, self.y.shape[-1])
        batch_size = y.shape[0]
        labels = label_indices(self.t, batch_size)
        rows = xp.arange(batch_size)
        dx = y.copy()
        dx[rows, labels] -= 1
        y_t = y[rows, labels]
        dx *= (y_t / (y_t + DELTA) * (dout / batch_size))[:, None]
        return dx.reshape(self.y.shape)
