"""What every layer is: `forward(x, train)` and `backward(dout)`, side by side."""

from __future__ import annotations

import numbers


class Layer:
    """A layer of the book's computational graph (chapter 5).

    `params` holds its learnable arrays by short name (`W`, `b`, `gamma`, ...) and
    `grads` their gradients after `backward`, under the same names. Layers never
    modify their input or `dout` in place. `input_grad = False` lets `backward`
    skip dx (returning None): a network sets it on its first layer, whose dx
    nobody uses. `splits_batch` is True for layers that split their batch over
    worker threads (`scratchdl.runtime.threads.parallel_map`).
    """

    splits_batch = False

    def __init__(self) -> None:
        self.params: dict = {}
        self.grads: dict = {}
        self.input_grad = True

    def forward(self, x, train: bool = True):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError


def check_int(layer: str, name: str, value, low: int) -> int:
    """`value` as an int of at least `low`, else a ValueError quoting it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{layer} needs {name} to be an integer >= {low}, got {name}={value!r}")
    return int(value)
