"""The Convolution layer (chapter 7.4.3), book-faithful and fast.

Both paths compute the same numbers. The book's path multiplies im2col's columns
by the reshaped filters, transposes the result back to NCHW, and keeps the
columns for backward.

The fast path (the default) builds transposed columns (`im2col_t`) and computes
`W.reshape(FN, -1) @ col_t`, whose output is channel-major, so the NCHW result is
a view, not a copy. It works through the batch a few images at a time, so each
chunk of columns is written, multiplied and dropped while it is still in the CPU
cache; backward rebuilds the columns chunk by chunk rather than keeping them,
which costs less than reading them back from memory and keeps the layer's memory
to its input and output. With stride 1 and FN <= C (where it is the cheaper
way), backward builds columns of dout, padded by FH - 1 - pad, instead of x:
dx is then the same sum as col2im of `W.T @ dout`, written as a convolution
with the filters rotated 180 degrees and C and FN swapped, and the same columns
give dW (rotated) against x laid out in their rows: one im2col serves both.

With stride 1 (every convolution of the book) and at least ROWS_MIN_K filter
elements, the columns run over whole padded rows (`im2col_rows`): each filter
position is then one long contiguous copy per image, at the price of Wp - out_w
extra output columns per row, which forward drops and backward meets with zero
gradients. With fewer elements (a first layer on one or three channels) the
product is cheap and writing the extra outputs costs more than the copies save.

The chunks are independent, so `parallel_map` spreads them over the CPUs; each
chunk's share of dW is returned and the shares are added in chunk order, so
the sum does not depend on the number of threads.
"""

from __future__ import annotations

from scratchdl.backend import on_gpu, xp
from scratchdl.layers.base import Layer
from scratchdl.layers.im2col import (
    col2im,
    col2im_rows,
    col2im_t,
    conv_output_size,
    im2col,
    im2col_rows,
    im2col_t,
)
from scratchdl.threads import even_slices, parallel_map

CHUNK_BYTES = 3 * 2**20
"""About how many bytes of columns a chunk holds on the CPU. Measured on two cores
(DeepConvNet, batch 100): 1 MiB chunks stay in the L2 cache but spend more time
handing the GIL between the threads than the cache saves; 3 MiB was fastest."""

CHUNK_MULTIPLE = 4
"""The number of chunks is rounded up to a multiple of this, so that two or four
threads get equal runs (three chunks on two threads would leave one idle half the time)."""

ROWS_MIN_K = 64
"""Fewest filter elements C*FH*FW for which the whole-row columns pay (measured:
C = 1 or 3 with 3x3 or 5x5 filters is faster without them, C = 16 with 3x3 faster with)."""


def batch_chunks(N: int, bytes_per_image: int) -> list[slice]:
    """N images in equal slices of about CHUNK_BYTES of columns (one slice on the GPU).

    A multiple of CHUNK_MULTIPLE equal slices gives each of 1, 2 or 4 threads the
    same work. The slicing depends on the sizes only, never on the number of
    threads, so neither do the sums over slices.
    """
    if on_gpu():
        return [slice(0, N)]
    n = -(-N * bytes_per_image // CHUNK_BYTES)
    return even_slices(N, max(1, min(N, -(-n // CHUNK_MULTIPLE) * CHUNK_MULTIPLE)))


class Convolution(Layer):
    """Convolution of x (N, C, H, W) with W (FN, C, FH, FW), plus b (FN,).

    Output (N, FN, out_h, out_w), out_h = (H + 2*pad - FH) // stride + 1.
    fast=False takes the book's im2col path. input_grad=False makes `backward` skip
    dx and return None: for a network's first layer, whose input is the data.
    """

    def __init__(self, W, b, stride: int = 1, pad: int = 0, fast: bool = True) -> None:
        super().__init__()
        self.params = {"W": W, "b": b}
        self.stride = stride
        self.pad = pad
        self.fast = fast
        self.splits_batch = fast

    def forward(self, x, train: bool = True):
        FN, C, FH, FW = self.params["W"].shape
        if x.ndim != 4 or x.shape[1] != C:
            raise ValueError(f"Convolution expects input (N, {C}, H, W), got {tuple(x.shape)}")
        self.x_shape = x.shape
        self.used_fast = self.fast
        self.used_rows = self.stride == 1 and C * FH * FW >= ROWS_MIN_K
        if self.fast:
            return self._forward_rows(x) if self.used_rows else self._forward_fast(x)
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        self.col = im2col(x, FH, FW, self.stride, self.pad)
        self.col_W = self.params["W"].reshape(FN, -1).T
        out = self.col @ self.col_W + self.params["b"]
        return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        if self.used_fast:
            return self._backward_rows(dout) if self.used_rows else self._backward_fast(dout)
        FN, C, FH, FW = self.params["W"].shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.grads["b"] = dout.sum(axis=0)
        self.grads["W"] = (self.col.T @ dout).transpose(1, 0).reshape(FN, C, FH, FW)
        if not self.input_grad:
            return None
        dcol = dout @ self.col_W.T
        return col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad)

    def _forward_fast(self, x):
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N, _, H, W_in = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W_in, FW, self.stride, self.pad)
        L = out_h * out_w
        W_2d, b = W.reshape(FN, -1), self.params["b"][:, None]
        out = xp.empty((FN, N * L), dtype=W.dtype)

        def forward_chunk(n: slice) -> None:
            col_t = im2col_t(x[n], FH, FW, self.stride, self.pad, dtype=W.dtype)
            out_n = out[:, n.start * L : n.stop * L]
            xp.matmul(W_2d, col_t, out=out_n)
            out_n += b

        parallel_map(forward_chunk, batch_chunks(N, W_2d.size // FN * L * W.itemsize))
        self.x = x
        return out.reshape(FN, N, out_h, out_w).transpose(1, 0, 2, 3)

    def _backward_fast(self, dout):
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        out_h, out_w = dout.shape[2], dout.shape[3]
        L = out_h * out_w
        dout_t = dout.transpose(1, 0, 2, 3).reshape(FN, -1)
        self.grads["b"] = dout_t.sum(axis=1)
        N, _, H, W_in = self.x_shape
        dx = xp.empty((C, N, H, W_in), dtype=W.dtype) if self.input_grad else None

        def backward_chunk(n: slice):
            col_t = im2col_t(self.x[n], FH, FW, self.stride, self.pad, dtype=W.dtype)
            dout_n = dout_t[:, n.start * L : n.stop * L]
            if dx is not None:
                dx_img = col2im_t(W.reshape(FN, -1).T @ dout_n, self.x[n].shape, FH, FW,
                                  self.stride, self.pad)
                dx[:, n] = dx_img.transpose(1, 0, 2, 3)
            return col_t @ dout_n.T

        dW_t = sum(parallel_map(backward_chunk, batch_chunks(N, W.size // FN * L * W.itemsize)))
        self.grads["W"] = dW_t.T.reshape(FN, C, FH, FW)
        return None if dx is None else dx.transpose(1, 0, 2, 3)

    def _forward_rows(self, x):
        """Stride 1: columns over whole padded rows (`im2col_rows`), wrapped outputs dropped."""
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N, _, H, W_in = x.shape
        out_h = conv_output_size(H, FH, 1, self.pad)
        out_w = conv_output_size(W_in, FW, 1, self.pad)
        Wp = W_in + 2 * self.pad
        W_2d, b = W.reshape(FN, -1), self.params["b"][:, None, None, None]
        img = x.transpose(1, 0, 2, 3)
        out = xp.empty((FN, N, out_h, out_w), dtype=W.dtype)

        def forward_chunk(n: slice) -> None:
            wide = W_2d @ im2col_rows(img[:, n], FH, FW, self.pad, dtype=W.dtype)
            xp.add(wide.reshape(FN, -1, out_h, Wp)[..., :out_w], b, out=out[:, n])

        parallel_map(forward_chunk, batch_chunks(N, C * FH * FW * out_h * Wp * W.itemsize))
        self.x = x
        return out.transpose(1, 0, 2, 3)

    def _backward_rows(self, dout):
        """Stride 1: dout is widened to whole padded rows, zeros where outputs wrapped."""
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N, _, H, W_in = self.x_shape
        out_h, out_w = dout.shape[2], dout.shape[3]
        Wp, pad_t = W_in + 2 * self.pad, FH - 1 - self.pad
        dout_c, img = dout.transpose(1, 0, 2, 3), self.x.transpose(1, 0, 2, 3)
        self.grads["b"] = dout_c.sum(axis=(1, 2, 3))
        dx = xp.empty((C, N, H, W_in), dtype=W.dtype) if self.input_grad else None
        if FH == FW and pad_t >= 0 and FN <= C:
            return self._backward_as_conv(dout_c, img, dx, pad_t)

        def backward_chunk(n: slice):
            dout_wide = xp.zeros((FN, n.stop - n.start, out_h, Wp), dtype=W.dtype)
            dout_wide[..., :out_w] = dout_c[:, n]
            dout_wide = dout_wide.reshape(FN, -1)
            if dx is not None:
                dcol = W.reshape(FN, -1).T @ dout_wide
                dx[:, n] = col2im_rows(dcol, (C, n.stop - n.start, H, W_in), FH, FW, self.pad)
            return im2col_rows(img[:, n], FH, FW, self.pad, dtype=W.dtype) @ dout_wide.T

        dW_t = sum(parallel_map(backward_chunk,
                                batch_chunks(N, C * FH * FW * out_h * Wp * W.itemsize)))
        self.grads["W"] = dW_t.T.reshape(FN, C, FH, FW)
        return None if dx is None else dx.transpose(1, 0, 2, 3)

    def _backward_as_conv(self, dout_c, img, dx, pad_t: int):
        """Stride 1, FN <= C: one set of columns, of dout padded by pad_t, serves dx and dW.

        dx is dout convolved with the filters rotated 180 degrees (C and FN swapped);
        dW, rotated, is the same columns times x laid out in their wide rows, with zeros
        where the rows wrap: dout's columns (FN*FH*FW, ...) cost no more than x's.
        """
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        _, N, H, W_in = img.shape
        Wq = dout_c.shape[3] + 2 * pad_t
        W_flip = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, -1)

        def backward_chunk(n: slice):
            dcol = im2col_rows(dout_c[:, n], FH, FW, pad_t, dtype=W.dtype)
            if dx is not None:
                dx[:, n] = (W_flip @ dcol).reshape(C, -1, H, Wq)[..., :W_in]
            x_wide = xp.zeros((C, n.stop - n.start, H, Wq), dtype=W.dtype)
            x_wide[..., :W_in] = img[:, n]
            return dcol @ x_wide.reshape(C, -1).T

        dW_flip = sum(parallel_map(backward_chunk,
                                   batch_chunks(N, FN * FH * FW * H * Wq * W.itemsize)))
        dW = dW_flip.reshape(FN, FH, FW, C)[:, ::-1, ::-1].transpose(0, 3, 1, 2)
        self.grads["W"] = xp.ascontiguousarray(dW)
        return None if dx is None else dx.transpose(1, 0, 2, 3)
