"""The book's functions: known values, shapes, and stability at +-1000."""

import numpy as np
import pytest
from helpers import assert_close, host

from scratchdl.functions import (
    cross_entropy_error,
    identity_function,
    label_indices,
    mean_squared_error,
    relu,
    sigmoid,
    softmax,
    step_function,
)

pytestmark = pytest.mark.xp


def test_step_function():
    assert step_function(np.array([-1.0, 0.0, 2.0])).tolist() == [0, 0, 1]


def test_sigmoid_known_values_and_extremes():
    assert_close(sigmoid(np.array([0.0, 1.0, -1.0])),
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
    assert_close(y.sum(axis=1), 1.0)
    assert_close(y[0], softmax(np.array([20.0, 10.0, 0.0])))
    assert y[1].tolist() == [0.0, 0.0, 1.0]


def test_softmax_1d_matches_book_example():
    assert_close(softmax(np.array([0.3, 2.9, 4.0])),
                 [0.01821127, 0.24519181, 0.73659691], atol=1e-8)


def test_cross_entropy_error_book_examples():
    t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    assert float(cross_entropy_error(y, t)) == pytest.approx(0.510825457099338)
    y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
    assert float(cross_entropy_error(y2, t)) == pytest.approx(2.302584092994546)


def test_cross_entropy_error_labels_equal_one_hot_and_batch_mean():
    rng = np.random.default_rng(0)
    y = softmax(rng.standard_normal((5, 4)))
    labels = np.array([0, 3, 1, 1, 2])
    one_hot = np.eye(4)[labels]
    expected = -np.mean(np.log(host(y)[np.arange(5), labels] + 1e-7))
    assert float(cross_entropy_error(y, labels)) == pytest.approx(expected)
    assert float(cross_entropy_error(y, one_hot)) == pytest.approx(expected)


def test_cross_entropy_error_of_zero_probability_is_finite():
    assert float(cross_entropy_error(np.array([[0.0, 1.0]]), np.array([0]))) == pytest.approx(
        -np.log(1e-7))


def test_mean_squared_error_book_example():
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert float(mean_squared_error(np.array(y), np.array(t))) == pytest.approx(0.0975)


def test_the_books_printed_examples_take_integers_and_lists():
    """Chapter 3's examples as the book types them: integer arrays and lists."""
    assert step_function(np.array([-1.0, 1.0, 2.0])).tolist() == [0, 1, 1]
    assert step_function([-1, 1, 2]).tolist() == [0, 1, 1]
    assert_close(sigmoid([-1, 1, 2]), [0.26894142, 0.73105858, 0.88079708], atol=1e-8)
    assert relu([-1, 0, 2]).tolist() == [0, 0, 2]
    # 3.5.2: np.exp(a) / np.sum(np.exp(a)) overflows; softmax subtracts the max first
    assert_close(softmax(np.array([1010, 1000, 990])),
                 [9.99954600e-01, 4.53978686e-05, 2.06106005e-09], rtol=1e-6)
    assert_close(softmax([0.3, 2.9, 4.0]), [0.01821127, 0.24519181, 0.73659691], atol=1e-8)
    assert_close(softmax([[1, 2], [3, 3]]),
                 [[1 / (1 + np.e), np.e / (1 + np.e)], [0.5, 0.5]], rtol=1e-15)


def test_the_books_loss_examples_take_lists():
    """Chapter 4.2's examples, t one-hot, as lists; and a single label for one row."""
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert float(mean_squared_error(y, t)) == pytest.approx(0.0975)
    assert float(cross_entropy_error(y, t)) == pytest.approx(0.510825457099338)
    assert float(cross_entropy_error(np.array(y), 2)) == pytest.approx(0.510825457099338)
    y2 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    assert float(mean_squared_error(y2, t)) == pytest.approx(0.5975)
    assert float(cross_entropy_error(y2, t)) == pytest.approx(2.302584092994546)


def test_label_indices_reads_both_forms_of_t():
    assert label_indices([[0, 1, 0], [1, 0, 0]], 2).tolist() == [1, 0]
    assert label_indices([2, 0], 2).tolist() == [2, 0]
    assert label_indices([[2], [0]], 2).tolist() == [2, 0]  # labels as a column
    assert label_indices([0, 0, 1], 1).tolist() == [2]  # one row, one-hot
    assert label_indices(np.uint8(7), 1).tolist() == [7]
