"""SimpleConvNet (chapter 7.5): the book's first convolutional network."""

from __future__ import annotations

import numpy as np

from scratchdl.engines.convolution import FastConvolution
from scratchdl.engines.pooling import FastPooling
from scratchdl.layers import Affine, Convolution, Pooling, Relu
from scratchdl.layers.im2col import conv_output_size
from scratchdl.models.base import Net, init_rng

DEFAULT_CONV_PARAM = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}


class SimpleConvNet(Net):
    """Conv - ReLU - Pool(2x2, stride 2) - Affine - ReLU - Affine - SoftmaxWithLoss.

    Parameters (defaults): W1 (30, 1, 5, 5) b1 (30,), W2 (4320, 100) b2 (100,),
    W3 (100, 10) b3 (10,); weights drawn as weight_init_std * N(0, 1), biases zero.
    Input x: (N, *input_dim). fast=False builds the book's Convolution and Pooling instead
    of their fast engines (the same numbers, slower).
    """

    accuracy_batch = 100  # the book evaluates its convnets 100 images at a time

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: dict | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float = 0.01,
        rng: np.random.Generator | int | None = None,
        dtype=np.float64,
        fast: bool = True,
    ) -> None:
        super().__init__(dtype)
        conv_layer, pool_layer = (FastConvolution, FastPooling) if fast else (Convolution, Pooling)
        conv_param = {**DEFAULT_CONV_PARAM, **(conv_param or {})}
        C, H, W = (int(d) for d in input_dim)
        filter_num, filter_size = int(conv_param["filter_num"]), int(conv_param["filter_size"])
        pad, stride = int(conv_param["pad"]), int(conv_param["stride"])
        conv_h = conv_output_size(H, filter_size, stride, pad)
        conv_w = conv_output_size(W, filter_size, stride, pad)
        pool_h, pool_w = conv_output_size(conv_h, 2, 2), conv_output_size(conv_w, 2, 2)
        pool_output_size = filter_num * pool_h * pool_w
        rng = init_rng(rng)

        def weight(*shape):
            return self.new_param(weight_init_std * rng.standard_normal(shape))

        def zeros(n):
            return self.new_param(np.zeros(n))

        conv = conv_layer(weight(filter_num, C, filter_size, filter_size), zeros(filter_num),
                           stride, pad)
        self.add(conv, W="W1", b="b1")
        self.add(Relu())
        self.add(pool_layer(pool_h=2, pool_w=2, stride=2))
        self.add(Affine(weight(pool_output_size, hidden_size), zeros(hidden_size)),
                 W="W2", b="b2")
        self.add(Relu())
        self.add(Affine(weight(hidden_size, output_size), zeros(output_size)), W="W3", b="b3")
        self.config = {
            "model": "simple-conv", "input_dim": [C, H, W], "conv_param": conv_param,
            "hidden_size": int(hidden_size), "output_size": int(output_size),
            "weight_init_std": weight_init_std,
        }
