"""The book's functions (chapters 3-4): activations, softmax and loss functions.

All take batch-first arrays; 1-D input is treated as a batch of one where it matters.
Like the book's, they accept Python lists and integer arrays as well as floats.
"""

from __future__ import annotations

import numpy as np

from scratchdl.runtime.backend import xp

DELTA = 1e-7
"""Added inside the log of the cross-entropy, as in the book, so log(0) never happens."""


def as_floats(x):
    """x as an array of floating point numbers (integers and lists become float64)."""
    x = xp.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(xp.float64)


def label_indices(t, n_rows: int):
    """t as label indices (n_rows,), whether it holds labels or one-hot rows.

    The book passes t either way: one label per row ((N,), or a scalar for one row)
    or one-hot rows ((N, C), or (C,) for one row). Labels are one entry per row.
    """
    t = xp.asarray(t)
    if t.size == n_rows:
        return t.reshape(-1)
    return t.reshape(n_rows, -1).argmax(axis=1)


def step_function(x):
    """1 where x > 0, else 0 (chapter 3's perceptron activation)."""
    return (xp.asarray(x) > 0).astype(xp.int64)


def sigmoid(x):
    """1 / (1 + exp(-x)). Below x = -709 (-88 in float32) exp(-x) overflows to inf and
    the result is 0, as it should be: NumPy's warning about it is silenced."""
    with np.errstate(over="ignore"):
        return 1 / (1 + xp.exp(-as_floats(x)))


def relu(x):
    """max(0, x)."""
    return xp.maximum(0, xp.asarray(x))


def identity_function(x):
    """The output layer's activation for regression: returns x unchanged."""
    return x


def softmax(x):
    """exp(x) / sum(exp(x)) over the last axis, shifted by the max for stability.

    x: (N, C) or (C,). Returns the same shape, each row summing to 1.
    """
    x = as_floats(x)
    e = x - x.max(axis=-1, keepdims=True)
    xp.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def mean_squared_error(y, t):
    """0.5 * sum((y - t)^2), as in the book (summed over the batch too)."""
    return 0.5 * xp.sum((as_floats(y) - as_floats(t)) ** 2)


def cross_entropy_error(y, t):
    """Batch-mean of -log(y[t] + 1e-7).

    y: (N, C) probabilities or (C,). t: one-hot (N, C) or label indices (N,).
    """
    y = as_floats(y)
    if y.ndim == 1:
        y = y.reshape(1, y.size)
    batch_size = y.shape[0]
    t = label_indices(t, batch_size)
    return -xp.sum(xp.log(y[xp.arange(batch_size), t] + DELTA)) / batch_size
