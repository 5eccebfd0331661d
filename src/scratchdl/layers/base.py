"""What every layer is: `forward(x, train)` and `backward(dout)`, side by side."""

from __future__ import annotations

import numbers


class Layer:
    """A layer of the book's computational graph (chapter 5).

    `params` holds its learnable arrays by short name (`W`, `b`, `gamma`, ...) and
    `grads` their gradients after `backward`, under the same names. Layers never
    modify their input or `dout` in place.
    """

    splits_batch = False
    """True for the engines' layers that split their batch over worker threads
    (`FastConvolution`, `FastPooling`): a network holds BLAS to one thread while they
    run (`Net.blas_threads`). The book's layers never do."""

    def __init__(self) -> None:
        self.params: dict = {}
        self.grads: dict = {}
        self.input_grad = True
        """False lets `backward` skip dx and return None: `Net.add` sets it on a network's
        first layer, whose dx nobody uses (in TwoLayerNet, as large a product as dW1)."""

    def forward(self, x, train: bool = True):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError


def check_int(layer: str, name: str, value, low: int) -> int:
    """`value` as an int of at least `low`, else a ValueError quoting it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{layer} needs {name} to be an integer >= {low}, got {name}={value!r}")
    return int(value)
