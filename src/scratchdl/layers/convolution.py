"""The Convolution layer (chapter 7.4.3), as the book writes it.

im2col turns every filter-sized patch of the input into a row, so one matrix
product with the filters, reshaped to columns, convolves the whole batch; backward
is that product's gradient, folded back into an image by col2im. The same numbers,
faster, are `FastConvolution`'s (`scratchdl.engines.convolution`), which the networks use.
"""

from __future__ import annotations

from scratchdl.layers.base import Layer, check_int
from scratchdl.layers.im2col import col2im, conv_output_size, im2col
from scratchdl.runtime.backend import xp


class Convolution(Layer):
    """Convolution of x (N, C, H, W) with filters W (FN, C, FH, FW), plus b (FN,).

    Output (N, FN, out_h, out_w), out_h = (H + 2*pad - FH) // stride + 1. With
    `input_grad = False` (a network's first layer) backward skips dx and returns None.
    """

    def __init__(self, W, b, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        if W.ndim != 4 or b.shape != (W.shape[0],):
            raise ValueError(f"Convolution needs filters W (FN, C, FH, FW) and biases b (FN,), "
                             f"got W {tuple(W.shape)} and b {tuple(b.shape)}")
        self.params = {"W": W, "b": b}
        self.stride = check_int("Convolution", "stride", stride, 1)
        self.pad = check_int("Convolution", "pad", pad, 0)

    def check_input(self, x) -> None:
        """x must be (N, C, H, W) with the filters' C channels."""
        C = self.params["W"].shape[1]
        if x.ndim != 4 or x.shape[1] != C:
            raise ValueError(f"Convolution expects input (N, {C}, H, W), got {tuple(x.shape)}")

    def forward(self, x, train: bool = True):
        self.check_input(x)
        FN, C, FH, FW = self.params["W"].shape
        N, C, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.params["W"].reshape(FN, -1).T
        out = xp.dot(col, col_W) + self.params["b"]
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
        self.x, self.col, self.col_W = x, col, col_W
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.params["W"].shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.grads["b"] = xp.sum(dout, axis=0)
        self.grads["W"] = xp.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        if not self.input_grad:
            return None
        dcol = xp.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)
