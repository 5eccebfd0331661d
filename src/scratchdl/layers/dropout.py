"""Dropout (chapter 6.4.3), with the book's convention.

Not inverted: training keeps each unit with probability 1 - ratio and passes it
unscaled; inference multiplies every unit by (1 - ratio). Book weights therefore
load without any rescaling.
"""

from __future__ import annotations

import numpy as np

from scratchdl.layers.base import Layer
from scratchdl.runtime.backend import random


class Dropout(Layer):
    """Drops units at random in training; scales by (1 - dropout_ratio) in inference.

    rng: the run's NumPy Generator, so a seed fixes the masks; on a GPU the masks are
    drawn there, from one seed drawn from it (`backend.random`).
    """

    def __init__(self, dropout_ratio: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.dropout_ratio = dropout_ratio
        self.rng = rng if rng is not None else np.random.default_rng()
        self.mask = None
        self.hold_mask = False
        """When True, a training forward pass reuses the mask it finds (drawing one only if
        there is none of x's shape): every loss of a numerical gradient sees one mask."""

    def forward(self, x, train: bool = True):
        if not train:
            return x * (1.0 - self.dropout_ratio)
        if not self.hold_mask or self.mask is None or self.mask.shape != x.shape:
            self.mask = random(self.rng, x.shape) > self.dropout_ratio
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask
