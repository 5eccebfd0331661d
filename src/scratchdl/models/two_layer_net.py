"""TwoLayerNet (chapters 4-5): the book's first network, and the seed program's."""

from __future__ import annotations

import numpy as np

from scratchdl.engines.activations import FastSigmoid
from scratchdl.layers import Affine, Relu
from scratchdl.models.base import Net, init_rng, weight_scale

ACTIVATIONS = {"sigmoid": FastSigmoid, "relu": Relu}
"""The hidden activations by name: the book's Sigmoid (in the engines' tanh form) and Relu."""


def activation_layer(activation: str):
    """The activation layer class for 'sigmoid' or 'relu'."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


class TwoLayerNet(Net):
    """Affine(W1, b1) -> activation -> Affine(W2, b2) -> SoftmaxWithLoss.

    W1: (input_size, hidden_size), W2: (hidden_size, output_size), drawn as
    weight_init_std * N(0, 1) (the book's 0.01; or 'he'/'xavier', see `weight_scale`);
    biases zero. Sigmoid is chapter 4's activation and the seed recipe's; ReLU is
    chapter 5's backprop version.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float | str = 0.01,
        activation: str = "sigmoid",
        rng: np.random.Generator | int | None = None,
        dtype=np.float64,
    ) -> None:
        super().__init__(dtype)
        Activation = activation_layer(activation)
        for name, size in [("input_size", input_size), ("hidden_size", hidden_size),
                           ("output_size", output_size)]:
            if int(size) < 1:
                raise ValueError(f"{name} must be a positive integer, got {size}")
        rng = init_rng(rng)
        W1 = weight_scale(weight_init_std, input_size) * rng.standard_normal(
            (input_size, hidden_size))
        W2 = weight_scale(weight_init_std, hidden_size) * rng.standard_normal(
            (hidden_size, output_size))
        self.add(Affine(self.new_param(W1), self.new_param(np.zeros(hidden_size))), W="W1", b="b1")
        self.add(Activation())
        self.add(Affine(self.new_param(W2), self.new_param(np.zeros(output_size))), W="W2", b="b2")
        self.config = {
            "model": "two-layer", "input_size": input_size, "hidden_size": hidden_size,
            "output_size": output_size, "weight_init_std": weight_init_std,
            "activation": activation,
        }
