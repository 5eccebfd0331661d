"""The sigmoid layer of the networks: the book's `Sigmoid`, computed as 0.5 (1 + tanh(x / 2)).

The same function as the book's 1 / (1 + exp(-x)) (within an ulp, `tests/test_layers.py`),
in one array worked in place, and it never overflows. In float32, the networks' training
dtype, it takes about two thirds of the book's time (`benchmarks/seed_recipe.py` prints both).
"""

from __future__ import annotations

from scratchdl.functions import as_floats
from scratchdl.layers import Sigmoid
from scratchdl.runtime.backend import xp


def sigmoid(x):
    """1 / (1 + exp(-x)) as 0.5 (1 + tanh(x / 2)), in one new array."""
    y = xp.tanh(xp.multiply(as_floats(x), 0.5))
    y += 1.0
    y *= 0.5
    return y


class FastSigmoid(Sigmoid):
    """`Sigmoid` with the tanh form's forward; backward is the book's dout * y (1 - y)."""

    def forward(self, x, train: bool = True):
        self.out = sigmoid(x)
        return self.out
