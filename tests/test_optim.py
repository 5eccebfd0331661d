"""Each optimizer's first steps against values worked out by hand from the book's formulas."""

import numpy as np
import pytest

from scratchdl.optim import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    RMSprop,
    get_optimizer,
)

G = np.array([0.5, -1.0])


def run(opt, steps=2):
    params = {"W": np.array([1.0, 2.0])}
    history = []
    for _ in range(steps):
        opt.update(params, {"W": G})
        history.append(params["W"].copy())
    return history


def test_sgd():
    s1, s2 = run(SGD(lr=0.1))
    np.testing.assert_allclose(s1, [0.95, 2.1])
    np.testing.assert_allclose(s2, [0.90, 2.2])


def test_momentum():
    s1, s2 = run(Momentum(lr=0.1, momentum=0.9))
    v1 = -0.1 * G
    v2 = 0.9 * v1 - 0.1 * G
    np.testing.assert_allclose(s1, [1.0, 2.0] + v1)
    np.testing.assert_allclose(s2, [1.0, 2.0] + v1 + v2)


def test_nesterov():
    (s1,) = run(Nesterov(lr=0.1, momentum=0.9), steps=1)
    v1 = -0.1 * G
    np.testing.assert_allclose(s1, [1.0, 2.0] + 0.81 * v1 - 1.9 * 0.1 * G)


def test_adagrad():
    s1, s2 = run(AdaGrad(lr=0.1))
    h1, h2 = G**2, 2 * G**2
    np.testing.assert_allclose(s1, [1.0, 2.0] - 0.1 * G / (np.sqrt(h1) + 1e-7))
    np.testing.assert_allclose(s2, s1 - 0.1 * G / (np.sqrt(h2) + 1e-7))


def test_rmsprop():
    s1, s2 = run(RMSprop(lr=0.1, decay_rate=0.99))
    h1 = 0.01 * G**2
    h2 = 0.99 * h1 + 0.01 * G**2
    np.testing.assert_allclose(s1, [1.0, 2.0] - 0.1 * G / (np.sqrt(h1) + 1e-7))
    np.testing.assert_allclose(s2, s1 - 0.1 * G / (np.sqrt(h2) + 1e-7))


def test_adam():
    s1, s2 = run(Adam(lr=0.001, beta1=0.9, beta2=0.999))
    m1, v1 = 0.1 * G, 0.001 * G**2
    lr1 = 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9)
    np.testing.assert_allclose(s1, [1.0, 2.0] - lr1 * m1 / (np.sqrt(v1) + 1e-7))
    m2, v2 = m1 + 0.1 * (G - m1), v1 + 0.001 * (G**2 - v1)
    lr2 = 0.001 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    np.testing.assert_allclose(s2, s1 - lr2 * m2 / (np.sqrt(v2) + 1e-7))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_updates_in_place_and_state_round_trip(name):
    params = {"W": np.array([1.0, 2.0])}
    array = params["W"]
    opt = get_optimizer(name, lr=0.01)
    opt.update(params, {"W": G})
    assert params["W"] is array
    clone = get_optimizer(name, lr=0.01)
    clone.load_state_dict(opt.state_dict())
    other = {"W": params["W"].copy()}
    opt.update(params, {"W": G})
    clone.update(other, {"W": G})
    np.testing.assert_array_equal(params["W"], other["W"])


def test_bad_names_and_learning_rates():
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_optimizer("adamw")
    with pytest.raises(ValueError, match="learning rate"):
        SGD(lr=0)
