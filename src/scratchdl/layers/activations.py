"""Activation layers (chapter 5.5): ReLU and Sigmoid."""

from __future__ import annotations

from scratchdl.functions import sigmoid
from scratchdl.layers.base import Layer
from scratchdl.runtime.backend import xp


class Relu(Layer):
    """y = max(0, x); backward passes dout where x > 0 (`mask`) and 0 elsewhere."""

    def forward(self, x, train: bool = True):
        self.mask = x > 0
        return xp.maximum(x, 0)

    def backward(self, dout):
        return dout * self.mask


class Sigmoid(Layer):
    """y = sigmoid(x); backward is dout * y (1 - y)."""

    def forward(self, x, train: bool = True):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out
