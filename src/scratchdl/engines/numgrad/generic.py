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


def tail_loss(layers: list, last_layer, x: np.ndarray, t: np.ndarray) -> float:
    """Data loss of `layers` (in training mode) then `last_layer`, starting from x."""
    for layer in layers:
        x = layer.forward(x, True)
    return float(last_layer.forward(x, t))
