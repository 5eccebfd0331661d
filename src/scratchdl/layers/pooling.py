"""Max pooling (chapter 7.4.4), as the book writes it.

im2col lays each pool_h x pool_w window out as a row; forward keeps each row's
max, and backward puts each gradient where that max was (the first one on ties)
and folds the rows back with col2im. The same numbers, faster, are
`FastPooling`'s (`scratchdl.engines.pooling`), which the networks use.
"""

from __future__ import annotations

from scratchdl.layers.base import Layer, check_int
from scratchdl.layers.im2col import col2im, conv_output_size, im2col
from scratchdl.runtime.backend import xp


class Pooling(Layer):
    """Max over pool_h x pool_w windows: x (N, C, H, W) -> (N, C, out_h, out_w).

    out_h = (H + 2*pad - pool_h) // stride + 1. Padding is zeros, as im2col pads.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        self.pool_h = check_int("Pooling", "pool_h", pool_h, 1)
        self.pool_w = check_int("Pooling", "pool_w", pool_w, 1)
        self.stride = check_int("Pooling", "stride", stride, 1)
        self.pad = check_int("Pooling", "pad", pad, 0)

    def forward(self, x, train: bool = True):
        N, C, H, W = x.shape
        out_h = conv_output_size(H, self.pool_h, self.stride, self.pad)
        out_w = conv_output_size(W, self.pool_w, self.stride, self.pad)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        arg_max = xp.argmax(col, axis=1)
        out = xp.max(col, axis=1)
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
        self.x_shape, self.arg_max = x.shape, arg_max
        return out

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = xp.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[xp.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)
