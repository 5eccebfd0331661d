"""The book's optimizers (chapter 6.1), each `update(params, grads)` in place.

Each `update` is the book's formula, line for line (`common/optimizer.py`). The
adaptive ones group their step as `lr * (g / (sqrt(h) + 1e-7))`, the book's
`lr * g / (...)` up to rounding: the package's numbers are defined with this grouping,
and tests hold training runs to their bits. State arrays (`v`, `h`, `m`) are made on
the first update, zeros shaped like the parameters. `Trainer` builds Adam as
`scratchdl.engines.optim.FastAdam`, which gives the same numbers without temporaries.
"""

from __future__ import annotations

import math

from scratchdl.runtime.backend import xp


class Optimizer:
    """Base: `update(params, grads)`; `state_dict()`/`load_state_dict()` for checkpoints."""

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got lr={lr}")
        self.lr = lr
        self.state: dict[str, dict] = {}
        self.iter = 0

    def slot(self, name: str, params: dict) -> dict:
        """The state `name` (e.g. 'v'): one array per parameter, zeros on first use."""
        if name not in self.state:
            self.state[name] = {key: xp.zeros_like(p) for key, p in params.items()}
        return self.state[name]

    def update(self, params: dict, grads: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Arrays and counters to save in a checkpoint."""
        return {"iter": self.iter, "state": {s: dict(t) for s, t in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.iter = int(state["iter"])
        self.state = {s: {k: a.copy() for k, a in t.items()} for s, t in state["state"].items()}


class SGD(Optimizer):
    """Stochastic gradient descent: W <- W - lr * dL/dW."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum(Optimizer):
    """v <- momentum * v - lr * dL/dW; W <- W + v."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = momentum

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        v = self.slot("v", params)
        for key in params:
            v[key] = self.momentum * v[key] - self.lr * grads[key]
            params[key] += v[key]


class Nesterov(Momentum):
    """Nesterov's accelerated gradient (Bengio et al., arXiv 1212.0901), as the book has it.

    The parameters move with the velocity from before this step:
    W <- W + momentum^2 * v - (1 + momentum) * lr * dL/dW, then v <- momentum * v - lr * dL/dW.
    """

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        v = self.slot("v", params)
        for key in params:
            params[key] += self.momentum * self.momentum * v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            v[key] *= self.momentum
            v[key] -= self.lr * grads[key]


class AdaGrad(Optimizer):
    """h <- h + dL/dW * dL/dW; W <- W - lr * dL/dW / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        h = self.slot("h", params)
        for key in params:
            h[key] += grads[key] * grads[key]
            params[key] -= self.lr * (grads[key] / (xp.sqrt(h[key]) + 1e-7))


class RMSprop(Optimizer):
    """h <- decay_rate * h + (1 - decay_rate) * dL/dW^2; W <- W - lr * dL/dW / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        h = self.slot("h", params)
        for key in params:
            h[key] *= self.decay_rate
            h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * (grads[key] / (xp.sqrt(h[key]) + 1e-7))


class Adam(Optimizer):
    """Adam (Kingma & Ba), with the book's bias correction folded into the learning rate:
    m <- m + (1 - beta1) (g - m); v <- v + (1 - beta2) (g^2 - v);
    W <- W - lr_t m / (sqrt(v) + 1e-7), lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t).
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1, self.beta2 = beta1, beta2

    def update(self, params: dict, grads: dict) -> None:
        self.iter += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        m, v = self.slot("m", params), self.slot("v", params)
        for key in params:
            m[key] += (1 - self.beta1) * (grads[key] - m[key])
            v[key] += (1 - self.beta2) * (grads[key] ** 2 - v[key])
            params[key] -= lr_t * (m[key] / (xp.sqrt(v[key]) + 1e-7))


OPTIMIZERS = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
    "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam,
}
"""Optimizer names for the command line and the trainer."""


def get_optimizer(name: str, *, choices: dict[str, type[Optimizer]] = OPTIMIZERS,
                  **options) -> Optimizer:
    """Build an optimizer by name ('sgd', 'momentum', ..., 'adam') with its options, the
    class taken from `choices`."""
    key = name.lower()
    if key not in choices:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(choices)}")
    return choices[key](**options)
