"""Chapter 4's gradients and gradient descent, against the book's printed results."""

import numpy as np

from scratchdl.gradient import gradient_descent


def function_2(x):
    """The book's f(x0, x1) = x0^2 + x1^2."""
    return x[0] ** 2 + x[1] ** 2


def test_gradient_descent_reaches_the_minimum():
    """lr 0.1, 100 steps from (-3, 4): the book prints [-6.1e-10, 8.1e-10]."""
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    assert np.abs(x).max() < 1e-8
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)


def test_too_large_a_learning_rate_diverges():
    """lr 10: the book prints [-2.58983747e+13, -1.29524862e+12]."""
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=10.0, step_num=100)
    np.testing.assert_allclose(x, [-2.58983747e13, -1.29524862e12], rtol=1e-8)


def test_too_small_a_learning_rate_barely_moves():
    """lr 1e-10: the book prints [-2.99999994, 3.99999992]."""
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=1e-10, step_num=100)
    np.testing.assert_allclose(x, [-2.99999994, 3.99999992], rtol=1e-9)


def test_history_is_the_path_before_each_step_and_the_input_is_untouched():
    init_x = np.array([-3.0, 4.0])
    x, x_history = gradient_descent(function_2, init_x, lr=0.1, step_num=20,
                                    return_history=True)
    assert x_history.shape == (20, 2)
    np.testing.assert_array_equal(x_history[0], [-3.0, 4.0])
    np.testing.assert_allclose(x_history[1], [-2.4, 3.2])  # x - 0.1 * 2x
    np.testing.assert_allclose(x, 0.8**20 * np.array([-3.0, 4.0]), rtol=1e-6)
    np.testing.assert_array_equal(init_x, [-3.0, 4.0])


def test_integer_start_is_accepted():
    x = gradient_descent(function_2, [-3, 4], lr=0.1)
    assert x.dtype == np.float64 and np.abs(x).max() < 1e-8
