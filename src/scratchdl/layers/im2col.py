"""im2col and col2im (chapter 7.4.2): images to filter-sized rows, and back.

`im2col` turns every filter_h x filter_w patch of the input into one row, so that
a convolution becomes one matrix product; `col2im` adds the rows back into an
image, summing where patches overlap (the adjoint of `im2col`, hence backward's).
Both are the book's: input (N, C, H, W), columns (N*out_h*out_w, C*filter_h*filter_w).
"""

from __future__ import annotations

from scratchdl.runtime.backend import xp


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """(input_size + 2*pad - filter_size) // stride + 1, as the book computes out_h, out_w."""
    out = (input_size + 2 * pad - filter_size) // stride + 1
    if out < 1:
        raise ValueError(
            f"filter {filter_size} with stride {stride} and pad {pad} does not fit "
            f"an input of size {input_size}"
        )
    return out


def output_hw(input_shape, filter_h: int, filter_w: int, stride: int, pad: int):
    """(out_h, out_w) of a filter over an (N, C, H, W) input."""
    if stride < 1 or pad < 0:
        raise ValueError(f"stride must be >= 1 and pad >= 0, got stride={stride}, pad={pad}")
    _, _, H, W = input_shape
    return conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)


def im2col(input_data, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0):
    """(N, C, H, W) -> (N*out_h*out_w, C*filter_h*filter_w), one row per output position.

    Row (n, y, x) holds the patch under output (y, x) of image n, channels first.
    """
    N, C, H, W = input_data.shape
    out_h, out_w = output_hw(input_data.shape, filter_h, filter_w, stride, pad)
    img = xp.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = xp.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=input_data.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0):
    """(N*out_h*out_w, C*filter_h*filter_w) -> (N, C, H, W): each entry added back to
    the pixel it was copied from, so overlapping patches sum."""
    N, C, H, W = input_shape
    out_h, out_w = output_hw(input_shape, filter_h, filter_w, stride, pad)
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = xp.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad : H + pad, pad : W + pad]
