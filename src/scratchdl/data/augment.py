"""Data augmentation for training batches: small random shifts of the images.

Off by default (the book trains without it); `scratchdl train --augment shift`
turns it on, which helps DeepConvNet past the book's 99.35 %.
"""

from __future__ import annotations

import numpy as np

from scratchdl.runtime.backend import asarray, xp


def random_shift(x, rng: np.random.Generator, max_shift: int = 2):
    """Shift each image of a batch by up to `max_shift` pixels in each direction.

    x: (N, C, H, W) or flattened (N, H*W) square single-channel images. Pixels
    shifted in are zero (MNIST's background). Returns a new array shaped like x.
    """
    shape = x.shape
    if x.ndim == 2:
        side = int(round(np.sqrt(shape[1])))
        x = x.reshape(shape[0], 1, side, side)
    N, C, H, W = x.shape
    s = max_shift
    padded = xp.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    dy = asarray(rng.integers(0, 2 * s + 1, size=N))
    dx = asarray(rng.integers(0, 2 * s + 1, size=N))
    rows = (dy[:, None] + xp.arange(H))[:, :, None]
    cols = (dx[:, None] + xp.arange(W))[:, None, :]
    out = padded[xp.arange(N)[:, None, None], :, rows, cols]
    return out.transpose(0, 3, 1, 2).reshape(shape)


AUGMENTATIONS = {"shift": random_shift}
"""Augmentation names for `scratchdl train --augment`."""
