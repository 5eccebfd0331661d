"""The column layouts of the fast convolution (`FastConvolution`), built directly.

`im2col_t` and `col2im_t` are the transposes of the book's `im2col` / `col2im`:
(C*filter_h*filter_w, N*out_h*out_w), one row per filter element. With this layout
a convolution is one GEMM, `W.reshape(FN, -1) @ col_t`, whose (FN, N*out_h*out_w)
result is already channel-major: (N, FN, out_h, out_w) is a transposed view of it,
with no copy. Both read any memory layout of the input; `col2im_t` returns its
image channel-major, (C, N, H, W) in memory, as an (N, C, H, W) view.

`im2col_rows` and `col2im_rows` are stride-1 columns over whole padded rows: all
filter positions are shifted views of one padded image, so im2col is one copy.
"""

from __future__ import annotations

from scratchdl.layers.im2col import conv_output_size, output_hw
from scratchdl.runtime.backend import xp


def zero_pad(img, pad: int):
    """img (..., H, W) with `pad` zeros around H and W (img itself when pad == 0)."""
    if pad == 0:
        return img
    *lead, H, W = img.shape
    out = xp.zeros((*lead, H + 2 * pad, W + 2 * pad), dtype=img.dtype)
    out[..., pad : H + pad, pad : W + pad] = img
    return out


def im2col_t(input_data, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0,
             dtype=None):
    """`im2col(...).T`, contiguous: (N, C, H, W) -> (C*filter_h*filter_w, N*out_h*out_w).

    Each of the filter_h*filter_w copies moves one strided slice of every channel
    at once. dtype: the columns' dtype (default the input's); the copy converts.
    """
    N, C, _, _ = input_data.shape
    out_h, out_w = output_hw(input_data.shape, filter_h, filter_w, stride, pad)
    img = zero_pad(input_data.transpose(1, 0, 2, 3), pad)
    col = xp.empty((C, filter_h, filter_w, N, out_h, out_w), dtype=dtype or input_data.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, y, x] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.reshape(C * filter_h * filter_w, N * out_h * out_w)


def col2im_t(col_t, input_shape, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0):
    """`col2im(col_t.T, ...)`: (C*filter_h*filter_w, N*out_h*out_w) -> (N, C, H, W).

    The result is a view of a channel-major (C, N, H, W) array.
    """
    N, C, H, W = input_shape
    out_h, out_w = output_hw(input_shape, filter_h, filter_w, stride, pad)
    col = col_t.reshape(C, filter_h, filter_w, N, out_h, out_w)
    img = xp.zeros((C, N, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, y, x]
    return img[:, :, pad : H + pad, pad : W + pad].transpose(1, 0, 2, 3)


def im2col_rows(img, filter_h: int, filter_w: int, pad: int = 0, dtype=None):
    """Stride-1 columns over whole padded rows: img (C, N, H, W) -> (C*FH*FW, N*out_h*Wp).

    Wp = W + 2*pad. Column (n, i, j) holds the patch under output (i, j) for
    j < out_w; the Wp - out_w columns past each row's end hold patches that wrap
    onto the next row, to be dropped (forward) or met by zero gradients (backward).
    In exchange the columns of filter position (y, x) are the padded image itself,
    flattened and shifted by y*Wp + x: all of them are one strided view, and
    im2col is a single copy of it.
    """
    C, N, H, W = img.shape
    out_h = conv_output_size(H, filter_h, 1, pad)
    Hp, Wp = H + 2 * pad, W + 2 * pad
    padded = xp.zeros((C, N, Hp + 1, Wp), dtype=dtype or img.dtype)  # + 1: the last wrap
    padded[:, :, pad : H + pad, pad : W + pad] = img
    s_c, s_n, s_row, s_col = padded.strides
    shifted = xp.lib.stride_tricks.as_strided(
        padded, (C, filter_h, filter_w, N, out_h * Wp), (s_c, s_row, s_col, s_n, s_col)
    )
    return shifted.reshape(C * filter_h * filter_w, -1)


def col2im_rows(col, img_shape, filter_h: int, filter_w: int, pad: int = 0):
    """The adjoint of `im2col_rows`: (C*FH*FW, N*out_h*Wp) -> img (C, N, H, W).

    The wrapped columns (j >= out_w) must be zero; the result is a view.
    """
    C, N, H, W = img_shape
    out_h = conv_output_size(H, filter_h, 1, pad)
    Hp, Wp = H + 2 * pad, W + 2 * pad
    R = out_h * Wp
    col = col.reshape(C, filter_h, filter_w, N, R)
    flat = xp.zeros((C, N, (Hp + 1) * Wp), dtype=col.dtype)
    for y in range(filter_h):
        for x in range(filter_w):
            flat[:, :, y * Wp + x : y * Wp + x + R] += col[:, y, x]
    return flat.reshape(C, N, Hp + 1, Wp)[:, :, pad : H + pad, pad : W + pad]
