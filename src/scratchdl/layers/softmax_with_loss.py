"""Softmax followed by cross-entropy (chapter 5.6.3), the output layer for training."""

from __future__ import annotations

from scratchdl.backend import xp
from scratchdl.functions import cross_entropy_error, softmax
from scratchdl.layers.base import Layer


class SoftmaxWithLoss(Layer):
    """loss = cross_entropy_error(softmax(x), t); backward gives (y - t) / N.

    x: (N, C) scores or (C,). t: one-hot like x, or label indices (N,).
    """

    def forward(self, x, t, train: bool = True):
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, t)

    def backward(self, dout=1):
        y = self.y.reshape(-1, self.y.shape[-1])
        t = self.t
        batch_size = y.shape[0]
        if t.size == y.size:
            dx = (y - t.reshape(y.shape)) / batch_size
        else:
            dx = y.copy()
            dx[xp.arange(batch_size), t.reshape(-1)] -= 1
            dx /= batch_size
        return (dx * dout).reshape(self.y.shape)
