"""The book's numerical differentiation against analytic derivatives."""

import numpy as np
import pytest

from scratchdl.gradient import numerical_diff, numerical_gradient


def test_numerical_diff_book_example():
    def f(x):
        return 0.01 * x**2 + 0.1 * x

    assert numerical_diff(f, 5.0) == pytest.approx(0.2, abs=1e-10)
    assert numerical_diff(f, 10.0) == pytest.approx(0.3, abs=1e-10)


def test_numerical_gradient_of_sum_of_squares():
    x = np.array([3.0, 4.0])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), x), [6.0, 8.0])


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 2, 3)])
def test_numerical_gradient_any_shape_matches_analytic(shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    A = rng.standard_normal(shape)

    def f(v):
        return float(np.sum(np.sin(v) * A))

    np.testing.assert_allclose(numerical_gradient(f, x), np.cos(x) * A, atol=1e-8)


def test_numerical_gradient_restores_x_exactly_and_reads_it_by_reference():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5))
    before = x.copy()
    W = x  # the book's pattern: f ignores its argument and reads the array itself
    numerical_gradient(lambda _: float(np.sum(W**3)), x)
    assert np.array_equal(x, before)
