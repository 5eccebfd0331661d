"""The Affine layer (chapter 5.6): y = x W + b."""

from __future__ import annotations

from scratchdl.layers.base import Layer


class Affine(Layer):
    """Fully connected layer.

    W: (in, out), b: (out,). Accepts x of any shape (N, ...) and flattens it to
    (N, in); `backward` returns dx in x's original shape.
    """

    def __init__(self, W, b) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}

    def forward(self, x, train: bool = True):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        out = self.x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        if not self.input_grad:
            return None
        dx = dout @ self.params["W"].T
        return dx.reshape(self.original_x_shape)
