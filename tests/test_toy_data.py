"""The toy sets of `scratchdl.data`: DeZero's spiral, point for point, and the circles and XOR."""

from __future__ import annotations

import numpy as np
import pytest

from scratchdl.data import TOY_SETS, load_circles, load_spiral, load_xor


def dezero_get_spiral(train: bool = True):
    """DeZero's `dezero.datasets.get_spiral` as its step 48 runs it: one draw per point, in
    order, from NumPy's global legacy generator (here a RandomState of the same seed)."""
    random = np.random.RandomState(1984 if train else 2020)
    num_data, num_class, input_dim = 100, 3, 2
    x = np.zeros((num_data * num_class, input_dim), dtype=np.float32)
    t = np.zeros(num_data * num_class, dtype=int)
    for j in range(num_class):
        for i in range(num_data):
            rate = i / num_data
            radius = 1.0 * rate
            theta = j * 4.0 + 4.0 * rate + random.randn() * 0.2
            ix = num_data * j + i
            x[ix] = np.array([radius * np.sin(theta), radius * np.cos(theta)]).flatten()
            t[ix] = j
    indices = random.permutation(num_data * num_class)
    return x[indices], t[indices]


def test_spiral_prints_what_the_book_prints():
    """Volume 3, step 48 prints x[10], t[10] and x[110], t[110] of the training set."""
    x, t = load_spiral(train=True)
    assert x.shape == (300, 2) and t.shape == (300,)
    assert x.dtype == np.float32
    assert f"{x[10]} {t[10]}" == "[-0.12995958 -0.00324155] 1"  # as `print` shows them
    assert f"{x[110]} {t[110]}" == "[ 0.3282343  -0.54941994] 0"


@pytest.mark.parametrize("train", [True, False])
def test_spiral_is_dezeros_point_for_point(train):
    x, t = load_spiral(train)
    expected_x, expected_t = dezero_get_spiral(train)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(t, expected_t)
    assert np.bincount(t).tolist() == [100, 100, 100]


@pytest.mark.parametrize("load", [load_spiral, load_circles, load_xor])
def test_toy_sets_are_fixed_points_in_the_plane(load):
    """Same points on every call; training and test sets differ; classes balanced."""
    x, t = load(train=True)
    again_x, again_t = load(train=True)
    test_x, test_t = load(train=False)
    assert x.shape == test_x.shape == (300, 2) and x.dtype == np.float32
    assert t.dtype == np.int64 and t.shape == (300,)
    np.testing.assert_array_equal(x, again_x)
    np.testing.assert_array_equal(t, again_t)
    assert not np.array_equal(x, test_x)
    assert np.abs(x).max() <= 1.0
    counts = np.bincount(t)
    assert len(counts) == t.max() + 1 and counts.min() >= 0.45 * len(t) / len(counts)
    assert TOY_SETS[load.__name__.removeprefix("load_")] is load


def test_circles_and_xor_are_their_shapes():
    """Circles: class 0 inside radius 0.5, class 1 from 0.7 to 1. XOR: the signs' product."""
    x, t = load_circles()
    radius = np.hypot(x[:, 0], x[:, 1])
    assert radius[t == 0].max() <= 0.5 + 1e-6 and radius[t == 1].min() >= 0.7 - 1e-6
    x, t = load_xor()
    np.testing.assert_array_equal(t, np.sign(x[:, 0]) == np.sign(x[:, 1]))
    assert np.abs(x).min() >= 0.05 - 1e-6
