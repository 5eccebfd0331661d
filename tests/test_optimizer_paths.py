"""`scratchdl experiment optimizer-paths` (the book's optimizer_compare_naive.py): paths
checked against the book's update formulas worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scratchdl.app.experiments import optimizer_paths
from scratchdl.app.experiments.optimizer_paths import FULL, descend, run


def test_sgd_path_is_the_closed_form():
    """x -= 0.95 * x/10 and y -= 0.95 * 2y: x_k = -7 * 0.905^k, y_k = 2 * (-0.9)^k."""
    k = np.arange(31)
    np.testing.assert_allclose(descend("sgd", 0.95, 30),
                               np.stack([-7 * 0.905**k, 2 * (-0.9) ** k], axis=1), rtol=1e-12)


def test_first_steps_by_hand():
    gx, gy = -0.7, 4.0  # the gradient (x/10, 2y) at (-7, 2)
    # Momentum: v = -lr g, p += v
    np.testing.assert_allclose(descend("momentum", 0.1, 1)[1], [-7 + 0.07, 2 - 0.4])
    # AdaGrad: h = g^2, p -= lr g / (sqrt(h) + 1e-7)
    np.testing.assert_allclose(descend("adagrad", 1.5, 1)[1],
                               [-7 - 1.5 * gx / (0.7 + 1e-7), 2 - 1.5 * gy / (4 + 1e-7)])
    # Adam: m = 0.1 g, v = 0.001 g^2, lr_t = lr sqrt(1 - 0.999) / (1 - 0.9)
    lr_t = 0.3 * math.sqrt(1 - 0.999) / (1 - 0.9)
    expected = [p - lr_t * 0.1 * g / (math.sqrt(0.001 * g * g) + 1e-7)
                for p, g in [(-7.0, gx), (2.0, gy)]]
    np.testing.assert_allclose(descend("adam", 0.3, 1)[1], expected, rtol=1e-12)


def test_momentum_second_step_by_hand():
    v = np.array([0.07, -0.4])
    p1 = np.array([-7.0, 2.0]) + v
    v = 0.9 * v - 0.1 * np.array([p1[0] / 10, 2 * p1[1]])
    np.testing.assert_allclose(descend("momentum", 0.1, 2)[2], p1 + v, rtol=1e-12)


def test_the_books_picture_adagrad_goes_straight_in_sgd_zigzags():
    paths = run(FULL).paths
    assert list(paths) == ["SGD", "Momentum", "AdaGrad", "Adam"]
    assert all(xy.shape == (31, 2) for xy in paths.values())
    sgd_y = paths["SGD"][:, 1]
    assert np.all(np.sign(sgd_y[1:]) != np.sign(sgd_y[:-1]))  # crosses y = 0 every step
    adagrad_y = paths["AdaGrad"][:, 1]
    assert np.all(adagrad_y > 0) and np.abs(adagrad_y[4:]).max() < 0.02  # y damped at once
    end = {label: float(np.hypot(*xy[-1])) for label, xy in paths.items()}
    assert min(end, key=end.get) == "AdaGrad"


def test_table_and_figure(tmp_path):
    result = run(optimizer_paths.QUICK)
    table = result.table()
    for word in ("optimizer", "end x", "SGD", "0.95", "AdaGrad", "1.5"):
        assert word in table
    assert f"{-7 * 0.905**30:.4f}" in table
    fig = result.plot(tmp_path / "paths.png")
    assert len(fig.axes) == 4 and [ax.get_title() for ax in fig.axes][2] == "AdaGrad"
    assert (tmp_path / "paths.png").stat().st_size > 10_000


@pytest.mark.parametrize("steps", [1, 5])
def test_steps_are_the_size(steps):
    assert descend("adam", 0.3, steps).shape == (steps + 1, 2)
