"""Max pooling (chapter 7.5), book-faithful and fast.

The book's path expands x with im2col and takes the max of each row; backward
puts each gradient at the row's argmax (the first maximum on ties) and folds the
rows back with col2im. The fast path (the default) gives the same numbers without
columns. It walks the pool_h*pool_w positions of the window as strided views of
x, keeping a running maximum and, per position, where that position beat it
(strictly, so the first maximum stays). The last position that beat the running
maximum is the argmax, so backward walks the positions in reverse and hands the
gradient still unclaimed to each one that won: a few elementwise passes over the
output. When the windows tile x, each pass writes its strided view of dx
directly; when they overlap, the claims are added in the book's order.
"""

from __future__ import annotations

from scratchdl.backend import xp
from scratchdl.layers.base import Layer
from scratchdl.layers.im2col import col2im, conv_output_size, im2col, zero_pad


class Pooling(Layer):
    """Max over pool_h x pool_w windows: x (N, C, H, W) -> (N, C, out_h, out_w).

    out_h = (H + 2*pad - pool_h) // stride + 1. Padding is zeros, as the book's
    im2col pads. fast=False takes the book's im2col path.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 1, pad: int = 0,
                 fast: bool = True) -> None:
        super().__init__()
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.fast = fast

    def forward(self, x, train: bool = True):
        N, C, H, W = x.shape
        out_h = conv_output_size(H, self.pool_h, self.stride, self.pad)
        out_w = conv_output_size(W, self.pool_w, self.stride, self.pad)
        self.x_shape = x.shape
        self.used_fast = self.fast
        if self.fast:
            return self._forward_fast(x, out_h, out_w)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = col.argmax(axis=1)
        out = col.max(axis=1)
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        if self.used_fast:
            return self._backward_fast(dout)
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1)
        dmax = xp.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[xp.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(-1, dout.shape[3] * pool_size)
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)

    def _windows(self, out_h: int, out_w: int) -> list[tuple]:
        """Index of each window position's strided view of an image (C, N, H, W).

        One per position in the pool_h x pool_w window, in the book's (row-major)
        order; each selects that position of every output's window.
        """
        s = self.stride
        return [(slice(None), slice(None), slice(y, y + s * out_h, s), slice(x, x + s * out_w, s))
                for y in range(self.pool_h) for x in range(self.pool_w)]

    def _forward_fast(self, x, out_h: int, out_w: int):
        img = zero_pad(x.transpose(1, 0, 2, 3), self.pad)
        first, *rest = self._windows(out_h, out_w)
        out = img[first].copy()
        self.beat = []
        for window in rest:
            self.beat.append(xp.greater(img[window], out))
            xp.maximum(out, img[window], out=out)
        self.padded_shape = img.shape
        return out.transpose(1, 0, 2, 3)

    def _backward_fast(self, dout):
        N, C, H, W = self.x_shape
        s, p = self.stride, self.pad
        tiles = s == self.pool_h == self.pool_w and p == 0 and H % s == 0 and W % s == 0
        dimg = (xp.empty if tiles else xp.zeros)(self.padded_shape, dtype=dout.dtype)
        windows = self._windows(dout.shape[2], dout.shape[3])
        unclaimed = dout.transpose(1, 0, 2, 3).copy()
        claims = []
        for window, beat in zip(reversed(windows[1:]), reversed(self.beat), strict=True):
            claim = xp.multiply(unclaimed, beat, out=dimg[window] if tiles else None)
            unclaimed -= claim
            claims.append(claim)
        claims.append(unclaimed)
        if tiles:
            dimg[windows[0]] = unclaimed
        else:
            for window, claim in zip(windows, reversed(claims), strict=True):
                dimg[window] += claim
        return dimg[:, :, p : H + p, p : W + p].transpose(1, 0, 2, 3)
