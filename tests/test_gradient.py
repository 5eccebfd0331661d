"""The book's numerical differentiation against analytic derivatives."""

import numpy as np
import pytest
from helpers import assert_close, host

from scratchdl.gradient import numerical_diff, numerical_gradient
from scratchdl.runtime.backend import asarray

pytestmark = pytest.mark.xp


def test_numerical_diff_book_example():
    def f(x):
        return 0.01 * x**2 + 0.1 * x

    assert numerical_diff(f, 5.0) == pytest.approx(0.2, abs=1e-10)
    assert numerical_diff(f, 10.0) == pytest.approx(0.3, abs=1e-10)


@pytest.mark.parametrize("point, gradient", [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)),
                                             ((3.0, 0.0), (6.0, 0.0))])
def test_numerical_gradient_of_sum_of_squares_at_the_books_points(point, gradient):
    """The book's function_2, x0^2 + x1^2, at its three printed points (4.4)."""
    x = asarray(np.array(point))
    assert_close(numerical_gradient(lambda v: float((v**2).sum()), x), gradient)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 2, 3)])
def test_numerical_gradient_any_shape_matches_analytic(shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    A = rng.standard_normal(shape)
    A_device = asarray(A)

    def f(v):
        return float((np.sin(v) * A_device).sum())

    assert_close(numerical_gradient(f, asarray(x)), np.cos(x) * A, atol=1e-8)


def test_numerical_gradient_restores_x_exactly_and_reads_it_by_reference():
    rng = np.random.default_rng(2)
    x = asarray(rng.standard_normal((4, 5)))
    before = host(x)
    W = x  # the book's pattern: f ignores its argument and reads the array itself
    numerical_gradient(lambda _: float((W**3).sum()), x)
    assert np.array_equal(host(x), before)
