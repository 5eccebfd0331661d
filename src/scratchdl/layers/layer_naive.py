"""The naive layers of chapter 5.4: a multiplication node and an addition node.

They take two inputs, `forward(x, y)`, and return two gradients,
`backward(dout) -> (dx, dy)`: the computational graph of the book's apple
shopping example, before the network layers with one input each.
"""

from __future__ import annotations


class MulLayer:
    """out = x * y; backward swaps the inputs: dx = dout * y, dy = dout * x."""

    def __init__(self) -> None:
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x = x
        self.y = y
        out = x * y
        return out

    def backward(self, dout):
        dx = dout * self.y
        dy = dout * self.x
        return dx, dy


class AddLayer:
    """out = x + y; backward passes dout on unchanged to both inputs."""

    def forward(self, x, y):
        out = x + y
        return out

    def backward(self, dout):
        dx = dout * 1
        dy = dout * 1
        return dx, dy
