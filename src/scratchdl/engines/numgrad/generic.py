"""The general path: one scalar at a time, recomputing only downstream of its layer.

A parameter of layer k cannot change anything computed before layer k, so the
input of layer k is cached once and each evaluation of L(theta +- h e_i) runs
layers k, k+1, ... and the loss only. This is the naive method minus the wasted
upstream work; it serves any layer with `forward(x, train)` (BatchNormalization in
training mode, whose batch statistics couple the rows; convolution, pooling,
layers it does not know).
"""

from __future__ import annotations

import numpy as np

from scratchdl.runtime.backend import asarray


def tail_loss(layers: list, last_layer, x: np.ndarray, t: np.ndarray) -> float:
    """Data loss of `layers` (in training mode) then `last_layer`, starting from x."""
    for layer in layers:
        x = layer.forward(x, True)
    return float(last_layer.forward(x, t))


def perturbed_gradient(p: np.ndarray, loss, h: float) -> np.ndarray:
    """(loss() with p[i] + h  -  loss() with p[i] - h) / 2h for every element of p.

    p is perturbed in place and each element restored exactly, as the book does;
    loss: a function of no arguments that reads p through the layer. Returns (p.shape),
    on p's device. `old` is a copy: on CuPy `p[idx]` is a view, which `p[idx] = old + h`
    would move too. The differences are Python numbers, gathered on the host and moved
    in one go.
    """
    grad = np.empty(p.shape)
    for idx in np.ndindex(p.shape):
        old = p[idx].copy()
        p[idx] = old + h
        plus = loss()
        p[idx] = old - h
        minus = loss()
        p[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return asarray(grad)
