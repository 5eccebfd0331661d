"""Batch normalization (chapter 6.3), as the book writes it.

4-D input (N, C, H, W) is normalized per feature after flattening to (N, C*H*W),
like the book's implementation.
"""

from __future__ import annotations

from scratchdl.layers.base import Layer
from scratchdl.runtime.backend import xp

EPS = 10e-7
"""The book's epsilon under the square root."""


class BatchNormalization(Layer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta.

    Training uses the batch statistics and updates running averages with
    `momentum` (0.9 like the book); inference uses the running averages.
    gamma, beta: (D,) where D is the number of features per sample.
    """

    def __init__(self, gamma, beta, momentum: float = 0.9, running_mean=None, running_var=None):
        super().__init__()
        self.params = {"gamma": gamma, "beta": beta}
        self.momentum = momentum
        self.running_mean = running_mean
        self.running_var = running_var

    def forward(self, x, train: bool = True):
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if self.running_mean is None:
            self.running_mean = xp.zeros(x.shape[1], dtype=x.dtype)
            self.running_var = xp.zeros(x.shape[1], dtype=x.dtype)
        if train:
            mu = x.mean(axis=0)
            xc = x - mu
            var = (xc**2).mean(axis=0)
            std = xp.sqrt(var + EPS)
            xn = xc / std
            self.batch_size, self.xc, self.xn, self.std = x.shape[0], xc, xn, std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xn = (x - self.running_mean) / xp.sqrt(self.running_var + EPS)
        return (gamma * xn + beta).reshape(self.input_shape)

    def backward(self, dout):
        dout = dout.reshape(dout.shape[0], -1)
        gamma = self.params["gamma"]
        self.grads["beta"] = dout.sum(axis=0)
        self.grads["gamma"] = (self.xn * dout).sum(axis=0)
        dxn = gamma * dout
        dxc = dxn / self.std
        dstd = -((dxn * self.xc) / (self.std * self.std)).sum(axis=0)
        dvar = 0.5 * dstd / self.std
        dxc = dxc + (2.0 / self.batch_size) * self.xc * dvar
        dmu = dxc.sum(axis=0)
        dx = dxc - dmu / self.batch_size
        return dx.reshape(self.input_shape)
