"""Max pooling (chapter 7.5), book-faithful and fast.

The book's path expands x with im2col and takes the max of each row; backward
puts each gradient at the row's argmax (the first maximum on ties) and folds the
rows back with col2im.

The fast path (the default) gives the same numbers without columns. It walks the
positions of the window as strided views of x, keeping a running maximum and,
per position, where that position beat it (strictly, so the first maximum
stays). The last position that beat the running maximum is the argmax, so
backward walks the positions in reverse and hands the gradient not yet claimed to
each position that won. When the windows tile x (stride == pool size, no pad,
the size divides, as in the book's 2x2 pools), the max is taken along W first,
then along H, on reshaped views with long inner loops; the first maximum of the
first row that holds the maximum is the book's argmax, so ties go the same way.
"""

from __future__ import annotations

from scratchdl.backend import xp
from scratchdl.layers.base import Layer
from scratchdl.layers.im2col import col2im, conv_output_size, im2col, zero_pad


def running_max(views: list):
    """Elementwise max of same-shaped arrays, and for each after the first, where it won.

    Returns (max, beats): beats[k - 1] is True where views[k] beat views[:k] strictly.
    """
    if len(views) == 1:
        return views[0].copy(), []
    out, beats = views[0], []
    for view in views[1:]:
        beats.append(xp.greater(view, out))
        out = xp.maximum(out, view)
    return out, beats


def route_to_max(grad, beats: list, outs: list) -> None:
    """Backward of `running_max`: write grad where each view was the (first) max, else 0.

    outs[k] receives the share of views[k]; what no later view claimed is left, in
    outs[0], for the first.
    """
    rest = grad
    for out, beat in zip(reversed(outs[1:]), reversed(beats), strict=True):
        xp.multiply(rest, beat, out=out)
        rest = xp.subtract(rest, out, out=outs[0])
    if not beats:
        outs[0][...] = grad


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
            self.tiles = (self.stride == self.pool_h == self.pool_w and self.pad == 0
                          and H % self.stride == 0 and W % self.stride == 0)
            if self.tiles:
                return self._forward_tiles(x, out_h, out_w)
            return self._forward_windows(x, out_h, out_w)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = col.argmax(axis=1)
        out = col.max(axis=1)
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        if self.used_fast:
            if self.tiles:
                return self._backward_tiles(dout)
            return self._backward_windows(dout)
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1)
        dmax = xp.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[xp.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(-1, dout.shape[3] * pool_size)
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)

    def _forward_tiles(self, x, out_h: int, out_w: int):
        N, C, H, W = x.shape
        img = xp.ascontiguousarray(x.transpose(1, 0, 2, 3))
        along_w = img.reshape(-1, self.pool_w)
        row_max, self.beats_w = running_max([along_w[:, j] for j in range(self.pool_w)])
        along_h = row_max.reshape(-1, self.pool_h, out_w)
        out, self.beats_h = running_max([along_h[:, i] for i in range(self.pool_h)])
        return out.reshape(C, N, out_h, out_w).transpose(1, 0, 2, 3)

    def _backward_tiles(self, dout):
        N, C, H, W = self.x_shape
        out_w = dout.shape[3]
        grad = dout.transpose(1, 0, 2, 3).reshape(-1, out_w)
        drow = xp.empty((grad.shape[0], self.pool_h, out_w), dtype=dout.dtype)
        route_to_max(grad, self.beats_h, [drow[:, i] for i in range(self.pool_h)])
        dimg = xp.empty((drow.size, self.pool_w), dtype=dout.dtype)
        route_to_max(drow.reshape(-1), self.beats_w, [dimg[:, j] for j in range(self.pool_w)])
        return dimg.reshape(C, N, H, W).transpose(1, 0, 2, 3)

    def _windows(self, out_h: int, out_w: int) -> list[tuple]:
        """Index of each window position's strided view of an image (C, N, H, W).

        One per position in the pool_h x pool_w window, in the book's (row-major)
        order; each selects that position of every output's window.
        """
        s = self.stride
        return [(slice(None), slice(None), slice(y, y + s * out_h, s), slice(x, x + s * out_w, s))
                for y in range(self.pool_h) for x in range(self.pool_w)]

    def _forward_windows(self, x, out_h: int, out_w: int):
        img = zero_pad(x.transpose(1, 0, 2, 3), self.pad)
        out, self.beats = running_max([img[w] for w in self._windows(out_h, out_w)])
        self.padded_shape = img.shape
        return out.transpose(1, 0, 2, 3)

    def _backward_windows(self, dout):
        """Claims are added into dx in the book's order, so overlaps sum the same way."""
        N, C, H, W = self.x_shape
        p = self.pad
        grad = dout.transpose(1, 0, 2, 3)
        windows = self._windows(dout.shape[2], dout.shape[3])
        claims = [xp.empty_like(grad) for _ in windows]
        route_to_max(grad, self.beats, claims)
        dimg = xp.zeros(self.padded_shape, dtype=dout.dtype)
        for window, claim in zip(windows, claims, strict=True):
            dimg[window] += claim
        return dimg[:, :, p : H + p, p : W + p].transpose(1, 0, 2, 3)
