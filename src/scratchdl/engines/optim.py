"""`FastAdam`: the book's Adam worked in place, the optimizer `Trainer` builds for "adam".

The book's three lines allocate about eight temporaries the size of each parameter per
step; for a large weight (SimpleConvNet's 4320 x 100 `W2`) that allocation outweighs the
arithmetic. `FastAdam` does the same operations, in the same order, through one scratch
array per parameter, so its numbers equal the book's `Adam` bit for bit
(`tests/test_optim.py`).
"""

from __future__ import annotations

import math

from scratchdl.optim import OPTIMIZERS, Adam
from scratchdl.runtime.backend import xp


class FastAdam(Adam):
    """`Adam` with `m += (1 - beta1) (g - m)`, `v += (1 - beta2) (g^2 - v)` and
    `W -= lr_t (m / (sqrt(v) + 1e-7))` each computed in place in `scratch[key]`."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr, beta1, beta2)
        self.scratch: dict = {}

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        m, v = self.slot("m", params), self.slot("v", params)
        for key in params:
            g, tmp = grads[key], self.scratch_for(key, grads[key])
            xp.subtract(g, m[key], out=tmp)
            tmp *= 1 - self.beta1
            m[key] += tmp
            xp.multiply(g, g, out=tmp)
            tmp -= v[key]
            tmp *= 1 - self.beta2
            v[key] += tmp
            xp.sqrt(v[key], out=tmp)
            tmp += 1e-7
            xp.divide(m[key], tmp, out=tmp)
            tmp *= lr_t
            params[key] -= tmp

    def scratch_for(self, key: str, g):
        """The scratch array of parameter `key`, made (again) when `g`'s shape or dtype is new."""
        tmp = self.scratch.get(key)
        if tmp is None or tmp.shape != g.shape or tmp.dtype != g.dtype:
            tmp = self.scratch[key] = xp.empty_like(g)
        return tmp


FAST_OPTIMIZERS = {**OPTIMIZERS, "adam": FastAdam}
"""The optimizers by name as `Trainer` builds them: the book's, Adam by its fast twin."""
