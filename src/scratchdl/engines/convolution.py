"""`FastConvolution`: the book's Convolution, with the same numbers, fast.

It works through the batch a few images at a time, so each chunk of columns is
written, multiplied and dropped while it is still in the CPU cache, and hands the
chunks to one thread per CPU (`parallel_map`: NumPy releases the GIL in copies and
products). Each chunk's share of dW comes back and the shares are added in chunk
order, so the sum does not depend on the number of threads. Backward rebuilds a
chunk's columns rather than keeping them: cheaper than reading them back from
memory, and the layer's memory stays its input and output. Its kernels:

- `forward_columns` / `backward_columns`: transposed columns (`im2col_t`), so that
  `W.reshape(FN, -1) @ col_t` is channel-major and the NCHW result a view.
- `forward_rows` / `backward_rows`: with stride 1 (every convolution of the book)
  and at least `rows_min_k` filter elements, columns over whole padded rows
  (`im2col_rows`): each filter position is one long contiguous copy per image, at
  the price of Wp - out_w extra outputs per row, dropped forward and met by zero
  gradients backward. With fewer elements (a first layer on one or three channels)
  the product is cheap and the extra outputs cost more than the copies save.
- `backward_as_deconvolution`: with stride 1 and FN <= C, dx is dout convolved with
  the filters rotated 180 degrees (C and FN swapped), and the same columns of dout,
  padded by FH - 1 - pad, give dW against x laid out in wide rows: one im2col
  serves both.
"""

from __future__ import annotations

from scratchdl.engines.im2col import col2im_rows, col2im_t, im2col_rows, im2col_t
from scratchdl.layers.convolution import Convolution
from scratchdl.layers.im2col import conv_output_size
from scratchdl.runtime.backend import on_gpu, xp
from scratchdl.runtime.threads import even_slices, parallel_map

CHUNK_BYTES = 3 * 2**20
"""About how many bytes of columns a chunk holds on the CPU: 1 MiB chunks stay in the L2
cache but spend more time handing the GIL between the threads than the cache saves
(`benchmarks/convnet.py` times a DeepConvNet step)."""

CHUNK_MULTIPLE = 4
"""The number of chunks is rounded up to a multiple of this, so that two or four
threads get equal runs (three chunks on two threads would leave one idle half the time)."""

ROWS_MIN_K = 64
"""Fewest filter elements C*FH*FW for which the whole-row columns pay: C = 1 or 3 with
3x3 or 5x5 filters is faster without them, C = 16 with 3x3 faster with."""


def batch_chunks(N: int, bytes_per_image: int, chunk_bytes: int = CHUNK_BYTES) -> list[slice]:
    """N images in equal slices of about `chunk_bytes` of columns (one slice on the GPU).

    A multiple of CHUNK_MULTIPLE equal slices gives each of 1, 2 or 4 threads the
    same work. The slicing depends on the sizes only, never on the number of
    threads, so neither do the sums over slices.
    """
    if on_gpu():
        return [slice(0, N)]
    n = -(-N * bytes_per_image // chunk_bytes)
    return even_slices(N, max(1, min(N, -(-n // CHUNK_MULTIPLE) * CHUNK_MULTIPLE)))


class FastConvolution(Convolution):
    """The book's `Convolution`, computed in cache-sized chunks on every CPU.

    chunk_bytes: about how many bytes of columns each chunk holds (CHUNK_BYTES);
    rows_min_k: fewest filter elements C*FH*FW for the whole-row kernels (ROWS_MIN_K).
    """

    splits_batch = True

    def __init__(self, W, b, stride: int = 1, pad: int = 0, *,
                 chunk_bytes: int = CHUNK_BYTES, rows_min_k: int = ROWS_MIN_K) -> None:
        super().__init__(W, b, stride, pad)
        self.chunk_bytes, self.rows_min_k = chunk_bytes, rows_min_k

    def forward(self, x, train: bool = True):
        self.check_input(x)
        FN, C, FH, FW = self.params["W"].shape
        self.x, self.x_shape = x, x.shape
        self.used_rows = self.stride == 1 and C * FH * FW >= self.rows_min_k
        return self.forward_rows(x) if self.used_rows else self.forward_columns(x)

    def backward(self, dout):
        return self.backward_rows(dout) if self.used_rows else self.backward_columns(dout)

    def chunks(self, N: int, bytes_per_image: int) -> list[slice]:
        return batch_chunks(N, bytes_per_image, self.chunk_bytes)

    def forward_columns(self, x):
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N, _, H, width = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(width, FW, self.stride, self.pad)
        L = out_h * out_w
        W_2d, b = W.reshape(FN, -1), self.params["b"][:, None]
        out = xp.empty((FN, N * L), dtype=W.dtype)

        def forward_chunk(n: slice) -> None:
            col_t = im2col_t(x[n], FH, FW, self.stride, self.pad, dtype=W.dtype)
            out_n = out[:, n.start * L : n.stop * L]
            xp.matmul(W_2d, col_t, out=out_n)
            out_n += b

        parallel_map(forward_chunk, self.chunks(N, W_2d.size // FN * L * W.itemsize))
        return out.reshape(FN, N, out_h, out_w).transpose(1, 0, 2, 3)

    def backward_columns(self, dout):
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        out_h, out_w = dout.shape[2], dout.shape[3]
        L = out_h * out_w
        dout_t = dout.transpose(1, 0, 2, 3).reshape(FN, -1)
        self.grads["b"] = dout_t.sum(axis=1)
        N, _, H, width = self.x_shape
        dx = xp.empty((C, N, H, width), dtype=W.dtype) if self.input_grad else None

        def backward_chunk(n: slice):
            col_t = im2col_t(self.x[n], FH, FW, self.stride, self.pad, dtype=W.dtype)
            dout_n = dout_t[:, n.start * L : n.stop * L]
            if dx is not None:
                dx_img = col2im_t(W.reshape(FN, -1).T @ dout_n, self.x[n].shape, FH, FW,
                                  self.stride, self.pad)
                dx[:, n] = dx_img.transpose(1, 0, 2, 3)
            return col_t @ dout_n.T

        dW_t = sum(parallel_map(backward_chunk, self.chunks(N, W.size // FN * L * W.itemsize)))
        self.grads["W"] = dW_t.T.reshape(FN, C, FH, FW)
        return None if dx is None else dx.transpose(1, 0, 2, 3)

    def forward_rows(self, x):
        """Stride 1: columns over whole padded rows (`im2col_rows`), wrapped outputs dropped."""
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N, _, H, width = x.shape
        out_h = conv_output_size(H, FH, 1, self.pad)
        out_w = conv_output_size(width, FW, 1, self.pad)
        Wp = width + 2 * self.pad
        W_2d, b = W.reshape(FN, -1), self.params["b"][:, None, None, None]
        img = x.transpose(1, 0, 2, 3)
        out = xp.empty((FN, N, out_h, out_w), dtype=W.dtype)

        def forward_chunk(n: slice) -> None:
            wide = W_2d @ im2col_rows(img[:, n], FH, FW, self.pad, dtype=W.dtype)
            xp.add(wide.reshape(FN, -1, out_h, Wp)[..., :out_w], b, out=out[:, n])

        parallel_map(forward_chunk, self.chunks(N, C * FH * FW * out_h * Wp * W.itemsize))
        return out.transpose(1, 0, 2, 3)

    def backward_rows(self, dout):
        """Stride 1: dout is widened to whole padded rows, zeros where outputs wrapped."""
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        N, _, H, width = self.x_shape
        out_h, out_w = dout.shape[2], dout.shape[3]
        Wp, pad_t = width + 2 * self.pad, FH - 1 - self.pad
        dout_c, img = dout.transpose(1, 0, 2, 3), self.x.transpose(1, 0, 2, 3)
        self.grads["b"] = dout_c.sum(axis=(1, 2, 3))
        dx = xp.empty((C, N, H, width), dtype=W.dtype) if self.input_grad else None
        if FH == FW and pad_t >= 0 and FN <= C:
            return self.backward_as_deconvolution(dout_c, img, dx, pad_t)

        def backward_chunk(n: slice):
            dout_wide = xp.zeros((FN, n.stop - n.start, out_h, Wp), dtype=W.dtype)
            dout_wide[..., :out_w] = dout_c[:, n]
            dout_wide = dout_wide.reshape(FN, -1)
            if dx is not None:
                dcol = W.reshape(FN, -1).T @ dout_wide
                dx[:, n] = col2im_rows(dcol, (C, n.stop - n.start, H, width), FH, FW, self.pad)
            return im2col_rows(img[:, n], FH, FW, self.pad, dtype=W.dtype) @ dout_wide.T

        dW_t = sum(parallel_map(backward_chunk,
                                self.chunks(N, C * FH * FW * out_h * Wp * W.itemsize)))
        self.grads["W"] = dW_t.T.reshape(FN, C, FH, FW)
        return None if dx is None else dx.transpose(1, 0, 2, 3)

    def backward_as_deconvolution(self, dout_c, img, dx, pad_t: int):
        """Stride 1, FN <= C: one set of columns, of dout padded by pad_t, serves dx and dW.

        dx is dout convolved with the filters rotated 180 degrees (C and FN swapped);
        dW, rotated, is the same columns times x laid out in their wide rows, with zeros
        where the rows wrap: dout's columns (FN*FH*FW, ...) cost no more than x's.
        """
        W = self.params["W"]
        FN, C, FH, FW = W.shape
        _, N, H, width = img.shape
        Wq = dout_c.shape[3] + 2 * pad_t
        W_flip = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, -1)

        def backward_chunk(n: slice):
            dcol = im2col_rows(dout_c[:, n], FH, FW, pad_t, dtype=W.dtype)
            if dx is not None:
                dx[:, n] = (W_flip @ dcol).reshape(C, -1, H, Wq)[..., :width]
            x_wide = xp.zeros((C, n.stop - n.start, H, Wq), dtype=W.dtype)
            x_wide[..., :width] = img[:, n]
            return dcol @ x_wide.reshape(C, -1).T

        dW_flip = sum(parallel_map(backward_chunk,
                                   self.chunks(N, FN * FH * FW * H * Wq * W.itemsize)))
        dW = dW_flip.reshape(FN, FH, FW, C)[:, ::-1, ::-1].transpose(0, 3, 1, 2)
        self.grads["W"] = xp.ascontiguousarray(dW)
        return None if dx is None else dx.transpose(1, 0, 2, 3)
