"""Numerical differentiation (chapter 4): the book's central differences, and descent.

`numerical_gradient` is the book's method, kept simple for learners: perturb one
element by +-h, evaluate f, restore. Training uses the fast engine in
`scratchdl.engines.numgrad`, which computes the same central differences.
`gradient_descent` follows the negative gradient, as the book's section 4.4.1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.runtime.backend import to_numpy

if TYPE_CHECKING:
    from scratchdl.models.base import Net

H = 1e-4
"""The book's step for central differences."""


def numerical_diff(f: Callable[[float], float], x: float) -> float:
    """(f(x + h) - f(x - h)) / 2h with h = 1e-4."""
    return (f(x + H) - f(x - H)) / (2 * H)


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
        x[idx] = tmp_val + H
        fxh1 = f(x)
        x[idx] = tmp_val - H
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * H)
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
    Every Dropout layer is frozen meanwhile: backprop draws the mask, the numerical
    gradient reuses it.
    """
    dropouts = [layer for layer in model.layers if hasattr(layer, "frozen")]
    previous = [layer.frozen for layer in dropouts]
    for layer in dropouts:
        layer.frozen, layer.mask = True, None
    try:
        grad_backprop = model.gradient(x, t)
        grad_numerical = model.numerical_gradient(x, t)
    finally:
        for layer, frozen in zip(dropouts, previous, strict=True):
            layer.frozen = frozen
    report = {}
    for name in model.params:
        diff = np.abs(to_numpy(grad_backprop[name]) - to_numpy(grad_numerical[name]))
        report[name] = (float(diff.mean()), float(diff.max()),
                        float(np.abs(to_numpy(grad_backprop[name])).max()))
    return report
