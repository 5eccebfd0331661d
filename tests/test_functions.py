"""The book's functions: known values, shapes, and stability at +-1000."""

import numpy as np
import pytest

from scratchdl.functions import (
    cross_entropy_error,
    identity_function,
    mean_squared_error,
    relu,
    sigmoid,
    softmax,
    step_function,
)


def test_step_function():
    assert step_function(np.array([-1.0, 0.0, 2.0])).tolist() == [0, 0, 1]


def test_sigmoid_known_values_and_extremes():
    np.testing.assert_allclose(sigmoid(np.array([0.0, 1.0, -1.0])),
                               [0.5, 1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))], rtol=1e-15)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = sigmoid(np.array([-1000.0, 1000.0]))
    assert y.tolist() == [0.0, 1.0]


def test_relu_and_identity():
    x = np.array([[-2.0, 0.0, 3.0]])
    assert relu(x).tolist() == [[0.0, 0.0, 3.0]]
    assert identity_function(x) is x


def test_softmax_rows_sum_to_one_and_is_stable():
    x = np.array([[1010.0, 1000.0, 990.0], [-1000.0, 0.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = softmax(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(y[0], softmax(np.array([20.0, 10.0, 0.0])))
    assert y[1].tolist() == [0.0, 0.0, 1.0]


def test_softmax_1d_matches_book_example():
    np.testing.assert_allclose(softmax(np.array([0.3, 2.9, 4.0])),
                               [0.01821127, 0.24519181, 0.73659691], atol=1e-8)


def test_cross_entropy_error_book_examples():
    t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    assert cross_entropy_error(y, t) == pytest.approx(0.510825457099338)
    y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
    assert cross_entropy_error(y2, t) == pytest.approx(2.302584092994546)


def test_cross_entropy_error_labels_equal_one_hot_and_batch_mean():
    rng = np.random.default_rng(0)
    y = softmax(rng.standard_normal((5, 4)))
    labels = np.array([0, 3, 1, 1, 2])
    one_hot = np.eye(4)[labels]
    expected = -np.mean(np.log(y[np.arange(5), labels] + 1e-7))
    assert cross_entropy_error(y, labels) == pytest.approx(expected)
    assert cross_entropy_error(y, one_hot) == pytest.approx(expected)


def test_cross_entropy_error_of_zero_probability_is_finite():
    assert cross_entropy_error(np.array([[0.0, 1.0]]), np.array([0])) == pytest.approx(
        -np.log(1e-7))


def test_mean_squared_error_book_example():
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert mean_squared_error(np.array(y), np.array(t)) == pytest.approx(0.0975)
