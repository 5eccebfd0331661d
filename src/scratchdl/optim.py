"""The book's optimizers (chapter 6.1), each `update(params, grads)` in place.

State arrays are allocated once, on the first update; every step after that
writes into them and into the parameters without allocating new arrays beyond
one scratch buffer per parameter.
"""

from __future__ import annotations

import math

from scratchdl.backend import xp


class Optimizer:
    """Base: `update(params, grads)`; `state_dict()`/`load_state_dict()` for checkpoints."""

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got lr={lr}")
        self.lr = lr
        self.state: dict[str, dict] = {}
        self.iter = 0

    def slot(self, slot: str, key: str, like):
        """The state array `slot` for parameter `key`, zeros on first use."""
        table = self.state.setdefault(slot, {})
        if key not in table:
            table[key] = xp.zeros_like(like)
        return table[key]

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        for key in params:
            self.step(key, params[key], grads[key], self.slot("tmp", key, params[key]))

    def step(self, key: str, p, g, tmp) -> None:
        raise NotImplementedError

    @staticmethod
    def adaptive_step(p, m, h, tmp, lr: float) -> None:
        """p -= lr * m / (sqrt(h) + 1e-7), through the scratch buffer `tmp`."""
        xp.sqrt(h, out=tmp)
        tmp += 1e-7
        xp.divide(m, tmp, out=tmp)
        tmp *= lr
        p -= tmp

    def state_dict(self) -> dict:
        """Arrays and counters to save; `tmp` scratch buffers are left out."""
        return {"iter": self.iter,
                "state": {s: dict(t) for s, t in self.state.items() if s != "tmp"}}

    def load_state_dict(self, state: dict) -> None:
        self.iter = int(state["iter"])
        self.state = {s: {k: a.copy() for k, a in t.items()} for s, t in state["state"].items()}


class SGD(Optimizer):
    """p -= lr * g."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def step(self, key, p, g, tmp):
        xp.multiply(g, self.lr, out=tmp)
        p -= tmp


class Momentum(Optimizer):
    """v = momentum * v - lr * g; p += v."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum

    def step(self, key, p, g, tmp):
        v = self.slot("v", key, p)
        v *= self.momentum
        xp.multiply(g, self.lr, out=tmp)
        v -= tmp
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the book's form."""

    def step(self, key, p, g, tmp):
        v = self.slot("v", key, p)
        v *= self.momentum
        xp.multiply(g, self.lr, out=tmp)
        v -= tmp
        p += self.momentum * self.momentum * v
        tmp *= 1 + self.momentum
        p -= tmp


class AdaGrad(Optimizer):
    """h += g * g; p -= lr * g / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def step(self, key, p, g, tmp):
        h = self.slot("h", key, p)
        xp.multiply(g, g, out=tmp)
        h += tmp
        self.adaptive_step(p, g, h, tmp, self.lr)


class RMSprop(Optimizer):
    """h = decay_rate * h + (1 - decay_rate) * g * g; p -= lr * g / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate

    def step(self, key, p, g, tmp):
        h = self.slot("h", key, p)
        h *= self.decay_rate
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - self.decay_rate
        h += tmp
        self.adaptive_step(p, g, h, tmp, self.lr)


class Adam(Optimizer):
    """Adam (Kingma & Ba), with the book's bias-corrected learning rate."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1, self.beta2 = beta1, beta2

    def update(self, params: dict, grads: dict) -> None:
        t = self.iter + 1
        self.lr_t = self.lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        super().update(params, grads)

    def step(self, key, p, g, tmp):
        m, v = self.slot("m", key, p), self.slot("v", key, p)
        xp.subtract(g, m, out=tmp)
        tmp *= 1 - self.beta1
        m += tmp
        xp.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1 - self.beta2
        v += tmp
        self.adaptive_step(p, m, v, tmp, self.lr_t)


OPTIMIZERS = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
    "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam,
}
"""Optimizer names for the command line and the trainer."""


def get_optimizer(name: str, **options) -> Optimizer:
    """Build an optimizer by name ('sgd', 'momentum', ..., 'adam') with its options."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](**options)
