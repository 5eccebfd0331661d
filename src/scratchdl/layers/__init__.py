"""The book's layers (chapters 5-7), one class per concept, forward beside backward."""

from scratchdl.layers.activations import Relu, Sigmoid
from scratchdl.layers.affine import Affine
from scratchdl.layers.base import Layer
from scratchdl.layers.batch_norm import BatchNormalization
from scratchdl.layers.convolution import Convolution
from scratchdl.layers.dropout import Dropout
from scratchdl.layers.layer_naive import AddLayer, MulLayer
from scratchdl.layers.pooling import Pooling
from scratchdl.layers.softmax_with_loss import SoftmaxWithLoss

__all__ = [
    "AddLayer",
    "Affine",
    "BatchNormalization",
    "Convolution",
    "Dropout",
    "Layer",
    "MulLayer",
    "Pooling",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
]
