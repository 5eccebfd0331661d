"""Each optimizer's first steps against values worked out by hand from the book's formulas."""

import numpy as np
import pytest
from helpers import assert_close, assert_equal

from scratchdl.engines.optim import FAST_OPTIMIZERS, FastAdam
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
from scratchdl.runtime.backend import asarray

pytestmark = pytest.mark.xp

G = np.array([0.5, -1.0])
"""A constant gradient, for the tests of the state below."""

GRADS = [np.array([0.5, -1.0]), np.array([-0.25, 0.5]), np.array([1.0, 2.0])]
"""Three steps' gradients for the hand-worked tests: they change sign, so the
velocity and the squared-gradient sums are not just multiples of one gradient."""


def three_steps(opt) -> list[np.ndarray]:
    """W after each of three updates from W = (1, -2) with GRADS."""
    params = {"W": asarray(np.array([1.0, -2.0]))}
    history = []
    for g in GRADS:
        opt.update(params, {"W": asarray(g)})
        history.append(params["W"].copy())
    return history


# Expected values below were worked out by hand from the book's formulas, element by
# element, in 40-digit decimal arithmetic (lr 0.1 unless said; momentum 0.9; decay 0.99).

def test_sgd():
    # W -= 0.1 g:  1 - 0.05 = 0.95;  0.95 + 0.025 = 0.975;  0.975 - 0.1 = 0.875
    steps = three_steps(SGD(lr=0.1))
    assert_close(steps, [[0.95, -1.90], [0.975, -1.95], [0.875, -2.15]],
                 rtol=1e-15)


def test_momentum():
    # v = 0.9 v - 0.1 g; W += v:  v1 = (-0.05, 0.1), v2 = (-0.02, 0.04), v3 = (-0.118, -0.164)
    steps = three_steps(Momentum(lr=0.1, momentum=0.9))
    assert_close(steps, [[0.95, -1.90], [0.93, -1.86], [0.812, -2.024]],
                 rtol=1e-15)


def test_nesterov_moves_with_the_velocity_before_the_step():
    # W += 0.81 v_old - 1.9 * 0.1 g, then v = 0.9 v_old - 0.1 g (arXiv 1212.0901):
    # step 1: v_old = 0:             W = (1 - 0.095, -2 + 0.19) = (0.905, -1.81); v = (-0.05, 0.1)
    # step 2: 0.905 - 0.0405 + 0.0475 = 0.912;  -1.81 + 0.081 - 0.095 = -1.824;  v = (-0.02, 0.04)
    # step 3: 0.912 - 0.0162 - 0.19 = 0.7058;  -1.824 + 0.0324 - 0.38 = -2.1716
    # (moving with the new velocity instead gives 0.8645 after the first step.)
    steps = three_steps(Nesterov(lr=0.1, momentum=0.9))
    assert_close(steps, [[0.905, -1.81], [0.912, -1.824], [0.7058, -2.1716]],
                 rtol=1e-14)


def test_adagrad():
    # h += g * g; W -= 0.1 g / (sqrt(h) + 1e-7)
    steps = three_steps(AdaGrad(lr=0.1))
    assert_close(steps, [[0.900000019999996, -1.900000009999999],
                         [0.9447213715499932, -1.944721365549995],
                         [0.8574342230746432, -2.032008517834869]], rtol=1e-14)


def test_rmsprop():
    # h = 0.99 h + 0.01 g * g; W -= 0.1 g / (sqrt(h) + 1e-7): the 1e-7 outside the root
    steps = three_steps(RMSprop(lr=0.1, decay_rate=0.99))
    assert_close(steps, [[1.999996000008e-06, -1.000000999999],
                         [0.4490144486127728, -1.449013851840493],
                         [-0.4257244532285092, -2.323753136266015]],
                 rtol=1e-14, atol=1e-15)  # the first W[0] is 1 - 0.999998: atol


@pytest.mark.parametrize("cls", [Adam, FastAdam])
def test_adam(cls):
    # lr_t = 0.001 sqrt(1 - 0.999^t) / (1 - 0.9^t); m += 0.1 (g - m); v += 0.001 (g^2 - v);
    # W -= lr_t m / (sqrt(v) + 1e-7)
    steps = three_steps(cls(lr=0.001, beta1=0.9, beta2=0.999))
    assert_close(steps, [[0.9990000063245153, -1.999000003162268],
                         [0.9987336707920792, -1.998733666876222],
                         [0.9980755610087696, -1.999190998034917]], rtol=1e-14)


@pytest.mark.parametrize("choices", [OPTIMIZERS, FAST_OPTIMIZERS], ids=["book", "fast"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_updates_in_place_and_state_round_trip(name, choices):
    params, g = {"W": asarray(np.array([1.0, 2.0]))}, asarray(G)
    array = params["W"]
    opt = get_optimizer(name, choices=choices, lr=0.01)
    opt.update(params, {"W": g})
    assert params["W"] is array
    clone = get_optimizer(name, choices=choices, lr=0.01)
    clone.load_state_dict(opt.state_dict())
    other = {"W": params["W"].copy()}
    opt.update(params, {"W": g})
    clone.update(other, {"W": g})
    assert_equal(params["W"], other["W"])


def test_bad_names_and_learning_rates():
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_optimizer("adamw")
    with pytest.raises(ValueError, match="learning rate"):
        SGD(lr=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_adam_gives_the_books_adam_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    shapes = {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (432, 10), "b2": (10,)}
    start = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    book = {k: asarray(a.copy()) for k, a in start.items()}
    fast = {k: asarray(a.copy()) for k, a in start.items()}
    adam, fast_adam = Adam(lr=0.01), FastAdam(lr=0.01)
    for _ in range(20):
        grads = {k: asarray(rng.standard_normal(s).astype(dtype)) for k, s in shapes.items()}
        adam.update(book, grads)
        fast_adam.update(fast, grads)
        for k in shapes:
            assert fast[k].dtype == book[k].dtype
            assert_equal(fast[k], book[k])


def test_the_trainer_builds_adam_as_its_fast_twin():
    from scratchdl.models import TwoLayerNet
    from scratchdl.train import Trainer

    x, t = np.zeros((10, 4)), np.zeros(10, dtype=np.int64)
    for name, cls in FAST_OPTIMIZERS.items():
        trainer = Trainer(TwoLayerNet(4, 3, 2, rng=0), x, t, x, t, iters=1, optimizer=name,
                          optimizer_param={"lr": 0.1}, mini_batch_size=5,
                          verbose=False)
        assert type(trainer.optimizer) is cls
    assert FAST_OPTIMIZERS["adam"] is FastAdam
    assert {k: v for k, v in FAST_OPTIMIZERS.items() if k != "adam"} == {
        k: v for k, v in OPTIMIZERS.items() if k != "adam"}
