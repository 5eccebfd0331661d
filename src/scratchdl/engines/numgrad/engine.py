"""Drives the numerical gradient of a `Net`: prepares the model, picks a path per layer.

The model is held as `scratchdl.gradient.held_for_differences` holds it for the book's
method: parameters in float64, Dropout masks drawn once by the unperturbed forward pass
and then held, batch normalization's running statistics restored afterwards.
"""

from __future__ import annotations

import numpy as np

from scratchdl.engines.numgrad.affine import affine_gradient
from scratchdl.engines.numgrad.generic import tail_loss
from scratchdl.engines.numgrad.series import ROW_LOCAL
from scratchdl.functions import label_indices
from scratchdl.gradient import h, held_for_differences, numerical_gradient
from scratchdl.layers import Affine, SoftmaxWithLoss
from scratchdl.runtime.backend import asarray


def loss_and_numerical_gradient(model, x, t) -> tuple[float, dict[str, np.ndarray]]:
    """Training-mode batch loss of `model` and its central differences (h = 1e-4).

    model: a `scratchdl.models.Net`; x: (N, ...) inputs; t: labels (N,) or one-hot
    (N, C), on the host or the active device. Returns (loss, {name: float64 array
    shaped like params[name]}), the arrays on the active device.
    """
    x = asarray(x, np.float64)
    t = asarray(t)
    with held_for_differences(model):
        ins, outs = _forward(model.layers, x)
        loss = float(model.last_layer.forward(outs[-1], t)) + model.weight_decay()
        labels = label_indices(t, x.shape[0])
        grads = {}
        for k, layer in enumerate(model.layers):
            names = {key: name for name, (lay, key) in model.params.bindings.items()
                     if lay is layer}
            if names:
                local = _layer_gradient(model, k, ins, outs, t, labels)
                grads.update({name: local[key] for key, name in names.items()})
        for name in model.decayed:
            grads[name] = grads[name] + decay_difference(model.params[name],
                                                         model.weight_decay_lambda, h)
    return loss, {name: grads[name] for name in model.params}


def _layer_gradient(model, k: int, ins: list, outs: list, t, labels) -> dict:
    """Central differences of the data loss for layer k's parameters, by key."""
    layer = model.layers[k]
    if _by_series(model, k):
        gW, gb = affine_gradient(ins[k], outs[k], model.layers[k + 1:], outs[k + 1:], labels, h)
        return {"W": gW, "b": gb}

    def loss(p) -> float:  # p is read through the layer, perturbed in place
        return tail_loss(model.layers[k:], model.last_layer, ins[k], t)

    return {key: numerical_gradient(loss, p) for key, p in layer.params.items()}


def decay_difference(w: np.ndarray, lam: float, h: float) -> np.ndarray:
    """Central difference of 0.5 lam w^2 with w moved by +-h, element by element.

    Exactly lam * w in real arithmetic; computed as the difference the naive method
    takes, so the two agree to rounding.
    """
    return 0.5 * lam * ((w + h) ** 2 - (w - h) ** 2) / (2 * h)


def _by_series(model, k: int) -> bool:
    """Layer k is an Affine with only row-local layers, then SoftmaxWithLoss, after it."""
    return (type(model.layers[k]) is Affine
            and type(model.last_layer) is SoftmaxWithLoss
            and all(type(layer) in ROW_LOCAL for layer in model.layers[k + 1:]))


def _forward(layers: list, x: np.ndarray) -> tuple[list, list]:
    """Training-mode forward; returns each layer's input and output."""
    ins, outs = [], []
    for layer in layers:
        ins.append(x)
        x = layer.forward(x, True)
        outs.append(x)
    return ins, outs
