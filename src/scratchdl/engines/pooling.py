"""`FastPooling`: the book's max pooling, with the same numbers, without columns.

It walks the positions of the window as strided views of x, keeping a running
maximum and, per position, where that position beat it (strictly, so the first
maximum stays). The last position that beat the running maximum is the argmax,
so backward walks the positions in reverse and hands the gradient not yet claimed
to each position that won. When the windows tile x (stride == pool size, no pad,
the size divides, as in the book's 2x2 pools), `forward_tiles` takes the max along
W first, then along H, on reshaped views with long inner loops; the first maximum
of the first row that holds the maximum is the book's argmax, so ties go the same
way. Each thread pools its own share of the C*N images there (`parallel_map`); the
shares meet nowhere, so the numbers do not depend on the number of threads.
Other windows take `forward_windows`.
"""

from __future__ import annotations

from scratchdl.engines.im2col import zero_pad
from scratchdl.layers.im2col import conv_output_size
from scratchdl.layers.pooling import Pooling
from scratchdl.runtime.backend import on_gpu, xp
from scratchdl.runtime.threads import even_slices, parallel_map, workers


def image_shares(n: int) -> list[slice]:
    """The n images (times channels) cut into one share per thread (one on the GPU)."""
    return even_slices(n, 1 if on_gpu() else workers())


def running_max(views: list, out=None, beats=None):
    """Elementwise max of same-shaped arrays, and for each after the first, where it won.

    Returns (max, beats): beats[k - 1] is True where views[k] beat views[:k] strictly.
    `out` and `beats` (one array per view after the first), when given, receive them.
    """
    if out is None:
        out = xp.empty_like(views[0])
        beats = [xp.empty(views[0].shape, dtype=bool) for _ in views[1:]]
    if len(views) == 1:
        out[...] = views[0]
    best = views[0]
    for view, beat in zip(views[1:], beats, strict=True):
        xp.greater(view, best, out=beat)
        best = xp.maximum(best, view, out=out)
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


class FastPooling(Pooling):
    """The book's `Pooling` by running maxima over strided views, on every CPU."""

    splits_batch = True

    def forward(self, x, train: bool = True):
        N, C, H, W = x.shape
        out_h = conv_output_size(H, self.pool_h, self.stride, self.pad)
        out_w = conv_output_size(W, self.pool_w, self.stride, self.pad)
        self.x_shape = x.shape
        self.tiles = (self.stride == self.pool_h == self.pool_w and self.pad == 0
                      and H % self.stride == 0 and W % self.stride == 0)
        if self.tiles:
            return self.forward_tiles(x, out_h, out_w)
        return self.forward_windows(x, out_h, out_w)

    def backward(self, dout):
        return self.backward_tiles(dout) if self.tiles else self.backward_windows(dout)

    def forward_tiles(self, x, out_h: int, out_w: int):
        """Max along W, then along H, a share of the C*N images on each thread."""
        N, C, H, W = x.shape
        ph, pw = self.pool_h, self.pool_w
        img = xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(C * N, -1)
        row_max = xp.empty((C * N, H * out_w), dtype=x.dtype)
        out = xp.empty((C * N, out_h * out_w), dtype=x.dtype)
        self.beats_w = xp.empty((pw - 1, C * N, H * out_w), dtype=bool)
        self.beats_h = xp.empty((ph - 1, C * N, out_h * out_w), dtype=bool)

        def pool_images(n: slice) -> None:
            along_w = img[n].reshape(-1, pw)
            running_max([along_w[:, j] for j in range(pw)], row_max[n].reshape(-1),
                        [beat[n].reshape(-1) for beat in self.beats_w])
            along_h = row_max[n].reshape(-1, ph, out_w)
            running_max([along_h[:, i] for i in range(ph)], out[n].reshape(-1, out_w),
                        [beat[n].reshape(-1, out_w) for beat in self.beats_h])

        parallel_map(pool_images, image_shares(C * N))
        return out.reshape(C, N, out_h, out_w).transpose(1, 0, 2, 3)

    def backward_tiles(self, dout):
        N, C, H, W = self.x_shape
        ph, pw, out_w = self.pool_h, self.pool_w, dout.shape[3]
        grad = dout.transpose(1, 0, 2, 3).reshape(C * N, -1)
        drow = xp.empty((C * N, H * out_w), dtype=dout.dtype)
        dimg = xp.empty((C * N, H * W), dtype=dout.dtype)

        def route_images(n: slice) -> None:
            to_rows = drow[n].reshape(-1, ph, out_w)
            route_to_max(grad[n].reshape(-1, out_w),
                         [beat[n].reshape(-1, out_w) for beat in self.beats_h],
                         [to_rows[:, i] for i in range(ph)])
            to_img = dimg[n].reshape(-1, pw)
            route_to_max(drow[n].reshape(-1), [beat[n].reshape(-1) for beat in self.beats_w],
                         [to_img[:, j] for j in range(pw)])

        parallel_map(route_images, image_shares(C * N))
        return dimg.reshape(C, N, H, W).transpose(1, 0, 2, 3)

    def windows(self, out_h: int, out_w: int) -> list[tuple]:
        """Index of each window position's strided view of an image (C, N, H, W).

        One per position in the pool_h x pool_w window, in the book's (row-major)
        order; each selects that position of every output's window.
        """
        s = self.stride
        return [(slice(None), slice(None), slice(y, y + s * out_h, s), slice(x, x + s * out_w, s))
                for y in range(self.pool_h) for x in range(self.pool_w)]

    def forward_windows(self, x, out_h: int, out_w: int):
        img = zero_pad(x.transpose(1, 0, 2, 3), self.pad)
        out, self.beats = running_max([img[w] for w in self.windows(out_h, out_w)])
        self.padded_shape = img.shape
        return out.transpose(1, 0, 2, 3)

    def backward_windows(self, dout):
        """Claims are added into dx in the book's order, so overlaps sum the same way."""
        N, C, H, W = self.x_shape
        p = self.pad
        grad = dout.transpose(1, 0, 2, 3)
        windows = self.windows(dout.shape[2], dout.shape[3])
        claims = [xp.empty_like(grad) for _ in windows]
        route_to_max(grad, self.beats, claims)
        dimg = xp.zeros(self.padded_shape, dtype=dout.dtype)
        for window, claim in zip(windows, claims, strict=True):
            dimg[window] += claim
        return dimg[:, :, p : H + p, p : W + p].transpose(1, 0, 2, 3)
