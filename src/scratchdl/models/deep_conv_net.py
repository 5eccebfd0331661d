"""DeepConvNet (chapter 8.1): the book's deep network, 99.35% on MNIST."""

from __future__ import annotations

import numpy as np

from scratchdl.engines.convolution import FastConvolution
from scratchdl.engines.pooling import FastPooling
from scratchdl.layers import Affine, Convolution, Dropout, Pooling, Relu
from scratchdl.layers.im2col import conv_output_size
from scratchdl.models.base import Net, init_rng


def _conv(filter_num: int, pad: int) -> dict:
    return {"filter_num": filter_num, "filter_size": 3, "pad": pad, "stride": 1}


DEFAULT_CONV_PARAMS = [_conv(16, 1), _conv(16, 1), _conv(32, 1), _conv(32, 2), _conv(64, 1),
                       _conv(64, 1)]
"""The book's conv_param_1 .. conv_param_6: 3x3 filters, pad 1 except the fourth."""


class DeepConvNet(Net):
    """conv-relu-conv-relu-pool, three times; affine-relu-dropout-affine-dropout.

    Parameters (defaults): W1 (16, 1, 3, 3), W2 (16, 16, 3, 3), W3 (32, 16, 3, 3),
    W4 (32, 32, 3, 3), W5 (64, 32, 3, 3), W6 (64, 64, 3, 3), W7 (1024, 50),
    W8 (50, 10), biases b1..b8 zero. He initialization like the book: each weight
    is sqrt(2 / fan_in) * N(0, 1), fan_in being C*FH*FW for a conv (the book's
    pre_node_nums) and the input size for an affine. Pools are 2x2, stride 2.
    Dropout (ratio 0.5) follows the book's convention and draws from `rng`.
    Input x: (N, *input_dim). fast=False builds the book's Convolution and Pooling instead
    of their fast engines (the same numbers, slower).
    """

    accuracy_batch = 100  # the book evaluates its convnets 100 images at a time

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param_1: dict | None = None,
        conv_param_2: dict | None = None,
        conv_param_3: dict | None = None,
        conv_param_4: dict | None = None,
        conv_param_5: dict | None = None,
        conv_param_6: dict | None = None,
        hidden_size: int = 50,
        output_size: int = 10,
        rng: np.random.Generator | int | None = None,
        dtype=np.float64,
        fast: bool = True,
    ) -> None:
        super().__init__(dtype)
        conv_layer, pool_layer = (FastConvolution, FastPooling) if fast else (Convolution, Pooling)
        given = [conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5,
                 conv_param_6]
        conv_params = [{**default, **(p or {})}
                       for default, p in zip(DEFAULT_CONV_PARAMS, given, strict=True)]
        C, H, W = (int(d) for d in input_dim)
        rng = init_rng(rng)

        def he(*shape):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            return self.new_param(np.sqrt(2.0 / fan_in) * rng.standard_normal(shape))

        def zeros(n):
            return self.new_param(np.zeros(n))

        for idx, param in enumerate(conv_params, start=1):
            FN, size = int(param["filter_num"]), int(param["filter_size"])
            stride, pad = int(param["stride"]), int(param["pad"])
            conv = conv_layer(he(FN, C, size, size), zeros(FN), stride, pad)
            self.add(conv, W=f"W{idx}", b=f"b{idx}")
            self.add(Relu())
            C = FN
            H = conv_output_size(H, size, stride, pad)
            W = conv_output_size(W, size, stride, pad)
            if idx % 2 == 0:
                self.add(pool_layer(pool_h=2, pool_w=2, stride=2))
                H, W = conv_output_size(H, 2, 2), conv_output_size(W, 2, 2)
        self.add(Affine(he(C * H * W, hidden_size), zeros(hidden_size)), W="W7", b="b7")
        self.add(Relu())
        self.add(Dropout(0.5, rng))
        self.add(Affine(he(hidden_size, output_size), zeros(output_size)), W="W8", b="b8")
        self.add(Dropout(0.5, rng))
        self.config = {
            "model": "deep-conv", "input_dim": [int(d) for d in input_dim],
            **{f"conv_param_{i}": p for i, p in enumerate(conv_params, start=1)},
            "hidden_size": int(hidden_size), "output_size": int(output_size),
        }
