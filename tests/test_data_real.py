"""The real MNIST and Fashion-MNIST files (../shared/data, via SCRATCHDL_DATA in CI)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import real_data_dir

from scratchdl.app.cli import main
from scratchdl.data import DATASETS, find_file, load_mnist, read_idx

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_as_the_book_loads_it(mnist):
    (x, t), (xt, tt) = mnist
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == xt.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0 and xt.min() == 0.0 and xt.max() == 1.0
    assert t.dtype == tt.dtype == np.uint8 and t.shape == (60000,) and tt.shape == (10000,)
    assert np.bincount(t).tolist() == TRAIN_COUNTS
    assert np.bincount(tt).tolist() == TEST_COUNTS


def test_mnist_options(mnist):
    (x_raw, t_hot), (xt_raw, tt_hot) = load_mnist(normalize=False, flatten=False,
                                                  one_hot_label=True)
    assert x_raw.dtype == np.uint8 and x_raw.shape == (60000, 1, 28, 28)
    assert xt_raw.shape == (10000, 1, 28, 28) and x_raw.max() == 255
    assert t_hot.dtype == np.float32 and t_hot.shape == (60000, 10)
    assert tt_hot.shape == (10000, 10)
    (x, t), _ = mnist
    np.testing.assert_array_equal(t_hot.argmax(axis=1), t)
    assert (t_hot.sum(axis=1) == 1).all()
    assert np.array_equal(x, x_raw.reshape(60000, -1).astype(np.float32) / 255.0)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_checksums_verify(name):
    folder = real_data_dir(name)
    for f in DATASETS[name].file_list():
        array = read_idx(find_file(folder, f), sha256=f.sha256)
        assert array.dtype == np.uint8
        if f.size:
            assert 4 + 4 * array.ndim + array.size == f.size


def test_fashion_mnist_loads():
    real_data_dir("fashion-mnist")
    (x, t), (xt, tt) = load_mnist(dataset="fashion-mnist", flatten=False)
    assert x.shape == (60000, 1, 28, 28) and xt.shape == (10000, 1, 28, 28)
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.bincount(t).tolist() == [6000] * 10 and np.bincount(tt).tolist() == [1000] * 10


def test_second_load_uses_the_fast_cache(mnist):
    start = time.perf_counter()
    (x, t), (xt, tt) = load_mnist()
    elapsed = time.perf_counter() - start
    assert np.array_equal(x, mnist[0][0])
    assert np.array_equal(tt, mnist[1][1])
    assert elapsed < 1.0, f"fast-cache load took {elapsed:.2f} s"


def test_cli_info_on_real_data(capsys):
    real_data_dir("mnist")
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    assert out.count("verified") == 4 and "found via SCRATCHDL_DATA" in out
