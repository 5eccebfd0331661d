"""MultiLayerNet and MultiLayerNetExtend (chapter 6): any depth, weight decay,
dropout and batch normalization, with the book's signatures and parameter names."""

from __future__ import annotations

import numpy as np

from scratchdl.layers import Affine, BatchNormalization, Dropout
from scratchdl.models.base import Net, init_rng, weight_scale
from scratchdl.models.two_layer_net import activation_layer


class MultiLayerNetExtend(Net):
    """(Affine -> [BatchNorm] -> activation -> [Dropout]) x hidden, then Affine.

    Parameters W1..Wn (in, out), b1..bn, and gamma1.., beta1.. for batch norm.
    weight_init_std: a number, or 'relu'/'he' (sqrt(2/n)), 'sigmoid'/'xavier' (sqrt(1/n)).
    Dropout follows the book's convention (see `scratchdl.layers.dropout`).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: list[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        rng: np.random.Generator | int | None = None,
        dtype=np.float64,
    ) -> None:
        super().__init__(dtype, weight_decay_lambda)
        Activation = activation_layer(activation)
        hidden_size_list = [int(h) for h in hidden_size_list]
        sizes = [int(input_size), *hidden_size_list, int(output_size)]
        if min(sizes) < 1:
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
        rng = init_rng(rng)
        for idx in range(1, len(sizes)):
            scale = weight_scale(weight_init_std, sizes[idx - 1])
            W = scale * rng.standard_normal((sizes[idx - 1], sizes[idx]))
            b = np.zeros(sizes[idx])
            self.add(Affine(self.new_param(W), self.new_param(b)), W=f"W{idx}", b=f"b{idx}")
            if idx == len(sizes) - 1:
                break
            if use_batchnorm:
                gamma, beta = np.ones(sizes[idx]), np.zeros(sizes[idx])
                bn = BatchNormalization(
                    self.new_param(gamma), self.new_param(beta),
                    running_mean=self.new_param(beta), running_var=self.new_param(beta),
                )
                self.add(bn, gamma=f"gamma{idx}", beta=f"beta{idx}")
            self.add(Activation())
            if use_dropout:
                self.add(Dropout(dropout_ration, rng))
        self.config = {
            "model": "multi-layer", "input_size": int(input_size),
            "hidden_size_list": hidden_size_list, "output_size": int(output_size),
            "activation": activation, "weight_init_std": weight_init_std,
            "weight_decay_lambda": weight_decay_lambda, "use_dropout": use_dropout,
            "dropout_ration": dropout_ration, "use_batchnorm": use_batchnorm,
        }


class MultiLayerNet(MultiLayerNetExtend):
    """The plain fully connected network: (Affine -> activation) x hidden, then Affine."""

    def __init__(
        self,
        input_size: int,
        hidden_size_list: list[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        rng: np.random.Generator | int | None = None,
        dtype=np.float64,
    ) -> None:
        super().__init__(input_size, hidden_size_list, output_size, activation,
                         weight_init_std, weight_decay_lambda, rng=rng, dtype=dtype)
