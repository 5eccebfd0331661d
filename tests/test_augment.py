"""Random shifts: every image moves by at most max_shift pixels, content preserved."""

import numpy as np

from scratchdl.data.augment import random_shift


def test_each_image_is_shifted_within_range_and_keeps_its_pixel():
    rng = np.random.default_rng(0)
    x = np.zeros((50, 1, 8, 8))
    x[:, 0, 4, 3] = 1.0
    y = random_shift(x, rng, max_shift=2)
    assert y.shape == x.shape and x[:, 0, 4, 3].all()
    positions = np.array([np.argwhere(img[0] == 1.0)[0] for img in y])
    offsets = positions - [4, 3]
    assert np.abs(offsets).max() <= 2
    assert len({tuple(o) for o in offsets}) > 10


def test_flattened_input_and_seeded():
    x = np.random.default_rng(1).random((4, 784)).astype(np.float32)
    a = random_shift(x, np.random.default_rng(5))
    b = random_shift(x, np.random.default_rng(5))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
