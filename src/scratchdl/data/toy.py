"""Two-dimensional toy data sets: points in the plane, a class each, for watching a decision
boundary form. Each returns `(x, t)`: x float32 (N, 2), t int64 class labels (N,); the same
points on every call (fixed seeds: 1984 for the training set, 2020 for the test set, as
DeZero's spiral)."""

from __future__ import annotations

import numpy as np

__all__ = ["TOY_SETS", "load_circles", "load_spiral", "load_xor"]

SEEDS = {True: 1984, False: 2020}
"""The seed of the training set (train=True) and of the test set."""


def load_spiral(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The spiral of the book's volume 3 (DeZero's `get_spiral`, step 48): 3 arms x 100 points.

    Point i of arm j lies at radius i/100 and angle 4j + 4i/100 + 0.2 N(0, 1), at
    (r sin, r cos); the points are then shuffled. The draws are DeZero's own (NumPy's
    legacy generator seeded 1984 or 2020), so the points are DeZero's, to float32.
    """
    random = np.random.RandomState(SEEDS[train])
    num_data, num_class = 100, 3
    rate = np.tile(np.arange(num_data) / num_data, num_class)
    arm = np.repeat(np.arange(num_class), num_data)
    theta = arm * 4.0 + 4.0 * rate + random.randn(num_data * num_class) * 0.2
    x = np.stack([rate * np.sin(theta), rate * np.cos(theta)], axis=1).astype(np.float32)
    order = random.permutation(num_data * num_class)
    return x[order], arm[order].astype(np.int64)


def load_circles(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two classes, 150 points each: a disc of radius 0.5 (class 0) inside a ring from radius
    0.7 to 1 (class 1); no straight line separates them, one hidden layer does."""
    rng = np.random.default_rng(SEEDS[train])
    n = 150
    radius = np.concatenate([0.5 * np.sqrt(rng.random(n)), rng.uniform(0.7, 1.0, n)])
    angle = rng.uniform(0, 2 * np.pi, 2 * n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).astype(np.float32)
    t = np.repeat(np.arange(2), n)
    order = rng.permutation(2 * n)
    return x[order], t[order]


def load_xor(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """XOR in the plane (chapter 2's gate, as points): 300 points in [-1, 1]^2, class 1 where
    x and y have the same sign; each coordinate kept at least 0.05 from the axes."""
    rng = np.random.default_rng(SEEDS[train])
    x = rng.uniform(0.05, 1.0, (300, 2)) * rng.choice([-1.0, 1.0], (300, 2))
    t = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x.astype(np.float32), t


TOY_SETS = {"spiral": load_spiral, "circles": load_circles, "xor": load_xor}
"""The toy sets by name."""
