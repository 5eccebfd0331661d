"""Numerical differentiation (chapter 4): the book's central differences, and descent.

`numerical_gradient` is the book's method, kept simple for learners: perturb one
element by +-h, evaluate f, restore. Training uses the fast engine in
`scratchdl.engines.numgrad`, which computes the same central differences.
`gradient_descent` follows the negative gradient, as the book's section 4.4.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.layers import Dropout
from scratchdl.runtime.backend import to_numpy

if TYPE_CHECKING:
    from scratchdl.models.base import Net

h = 1e-4
"""The book's step for central differences (`h = 1e-4 # 0.0001`)."""


def numerical_diff(f: Callable[[float], float], x: float) -> float:
    """(f(x + h) - f(x - h)) / 2h with h = 1e-4."""
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central-difference gradient of f at x, any shape.

    Perturbs x in place one element at a time and restores it exactly, so f may
    read x through a reference (as the book's `loss_W = lambda W: net.loss(x, t)`).
    Returns an array shaped like x, where x is (host or device: the book's
    `np.nditer` would need x on the host, so the loop walks `np.ndindex`).
    """
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        tmp_val = x[idx].copy()
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad


def gradient_descent(f: Callable[[np.ndarray], float], init_x, lr: float = 0.01,
                     step_num: int = 100, return_history: bool = False):
    """The book's gradient method (section 4.4.1): step_num times x -= lr * grad f(x).

    Gradients are `numerical_gradient`'s. Starts from a float copy of init_x (the
    caller's array is left alone). Returns x, or (x, x_history) with
    `return_history`: x_history (step_num, *x.shape) holds x before each step, as
    the book's `gradient_method.py` records it to draw the path.
    """
    x = np.array(init_x, dtype=float)
    x_history = []
    for _ in range(step_num):
        x_history.append(x.copy())
        grad = numerical_gradient(f, x)
        x -= lr * grad
    if return_history:
        return x, np.array(x_history).reshape(step_num, *x.shape)
    return x


def gradient_check(model: Net, x, t) -> dict[str, tuple[float, float, float]]:
    """The book's gradient check: backprop vs numerical gradient, for every parameter.

    Returns name -> (mean |difference|, max |difference|, max |backprop gradient|).
    Both are taken as `held_for_differences` holds the model: in float64, the Dropout
    masks drawn by backprop's forward pass reused by the numerical gradient.
    """
    with held_for_differences(model):
        grad_backprop = model.gradient(x, t)
        grad_numerical = model.numerical_gradient(x, t)
    report = {}
    for name in model.params:
        diff = np.abs(to_numpy(grad_backprop[name]) - to_numpy(grad_numerical[name]))
        report[name] = (float(diff.mean()), float(diff.max()),
                        float(np.abs(to_numpy(grad_backprop[name])).max()))
    return report


@contextmanager
def held_for_differences(model: Net) -> Iterator[None]:
    """The model as central differences need it, put back afterwards: parameters in
    float64, each Dropout mask drawn by the next forward pass and then held, batch
    normalization's running statistics as they were."""
    originals = {name: p for name, p in model.params.items() if p.dtype != np.float64}
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    saved = [(layer, {a: getattr(layer, a) for a in ("running_mean", "running_var", "hold_mask")
                      if hasattr(layer, a)}) for layer in model.layers]
    try:
        for name, p in originals.items():
            model.params[name] = p.astype(np.float64)
        for layer in dropouts:
            if not layer.hold_mask:  # a mask held already (gradient_check) stays
                layer.hold_mask, layer.mask = True, None
        yield
    finally:
        for name, p in originals.items():
            model.params[name] = p
        for layer, attrs in saved:
            for a, value in attrs.items():
                setattr(layer, a, value)
