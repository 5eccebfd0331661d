"""Every layer's backward against the numerical gradient of its forward (float64)."""

import numpy as np
import pytest
from helpers import assert_close, assert_equal, host

from scratchdl.engines.activations import FastSigmoid
from scratchdl.gradient import numerical_gradient
from scratchdl.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
)
from scratchdl.runtime.backend import asarray

pytestmark = pytest.mark.xp


def check_layer(layer, x, rng, atol=1e-7, train=True):
    """Compare dL/dx and dL/dparams from backward with central differences of
    L = sum(forward(x) * R) for a fixed random R."""
    R = asarray(rng.standard_normal(layer.forward(x.copy(), train).shape))

    def L(_):
        return float((layer.forward(x, train) * R).sum())

    x_before = x.copy()
    dx = layer.backward(R.copy())
    R_before = R.copy()
    assert_close(dx, numerical_gradient(L, x), atol=atol)
    for key, p in layer.params.items():
        layer.forward(x, train)
        layer.backward(R)
        analytic = layer.grads[key].copy()
        assert_close(analytic, numerical_gradient(L, p), atol=atol, err_msg=key)
    assert np.array_equal(host(x), host(x_before)), "forward/backward modified the input"
    assert np.array_equal(host(R), host(R_before)), "backward modified dout"


@pytest.mark.parametrize("seed", range(3))
def test_relu_and_sigmoid(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from ReLU's kink
    check_layer(Relu(), asarray(x), rng)
    check_layer(Sigmoid(), asarray(x), rng)
    check_layer(FastSigmoid(), asarray(x), rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_engines_sigmoid_is_the_books(dtype):
    """0.5 (1 + tanh(x / 2)) against the book's 1 / (1 + exp(-x)): within two ulps of 1
    everywhere, from the saturated ends to 0, and the same backward for the same output."""
    x = np.concatenate([np.linspace(-60, 60, 100_001), [-1000.0, 0.0, 1000.0]]).astype(dtype)
    book, fast = Sigmoid(), FastSigmoid()
    y_book, y_fast = host(book.forward(asarray(x))), host(fast.forward(asarray(x)))
    assert y_fast.dtype == y_book.dtype == dtype
    assert np.abs(y_fast - y_book).max() <= 2 * np.finfo(dtype).eps
    assert y_fast[-3:].tolist() == y_book[-3:].tolist() == [0.0, 0.5, 1.0]
    dout = asarray(np.ones_like(x))
    fast.out = book.out
    assert np.array_equal(host(fast.backward(dout)), host(book.backward(dout)))


@pytest.mark.parametrize("shape", [(5, 7), (3, 2, 4), (2, 1, 3, 3)])
def test_affine_any_input_shape(shape):
    rng = np.random.default_rng(0)
    x = asarray(rng.standard_normal(shape))
    n_in = int(np.prod(shape[1:]))
    layer = Affine(asarray(rng.standard_normal((n_in, 4))), asarray(rng.standard_normal(4)))
    assert layer.forward(x).shape == (shape[0], 4)
    check_layer(layer, x, rng)
    assert layer.backward(asarray(np.ones((shape[0], 4)))).shape == shape


@pytest.mark.parametrize("shape", [(6, 5), (4, 2, 3, 3)])
def test_batch_normalization_train_mode(shape):
    rng = np.random.default_rng(0)
    x = asarray(rng.standard_normal(shape) * 3 + 1)
    D = int(np.prod(shape[1:]))
    layer = BatchNormalization(asarray(rng.standard_normal(D)), asarray(rng.standard_normal(D)))
    check_layer(layer, x, rng, atol=1e-6)


def test_batch_normalization_normalizes_and_tracks_running_stats():
    rng = np.random.default_rng(0)
    layer = BatchNormalization(asarray(np.ones(3)), asarray(np.zeros(3)), momentum=0.9)
    x = rng.standard_normal((500, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.0]
    y = host(layer.forward(asarray(x), train=True))
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-5)
    assert_close(layer.running_mean, 0.1 * x.mean(axis=0))
    assert_close(layer.running_var, 0.1 * x.var(axis=0))
    for _ in range(200):
        layer.forward(asarray(x), train=True)
    assert_close(layer.forward(asarray(x), train=False), y, atol=1e-3)


def test_dropout_statistics_and_modes():
    rng = np.random.default_rng(0)
    layer = Dropout(0.3, rng=rng)
    x = asarray(np.ones((1000, 100)))
    y = host(layer.forward(x, train=True))
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert_equal(layer.backward(asarray(np.full((1000, 100), 2.0))), 2.0 * host(layer.mask))
    assert_close(layer.forward(x, train=False), 0.7)


def test_dropout_masks_follow_the_seed_and_change_every_step():
    x = asarray(np.ones((50, 40)))
    first, second = (Dropout(0.5, rng=np.random.default_rng(3)) for _ in range(2))
    masks = [host(first.forward(x)) for _ in range(2)]
    assert_equal(second.forward(x), masks[0])
    assert not np.array_equal(masks[0], masks[1])


def test_dropout_held_mask_gradient():
    rng = np.random.default_rng(0)
    layer = Dropout(0.5, rng=rng)
    x = asarray(rng.standard_normal((4, 5)))
    layer.forward(x)
    layer.hold_mask = True
    check_layer(layer, x, rng)


def test_dropout_rejects_bad_ratio():
    with pytest.raises(ValueError, match="dropout_ratio"):
        Dropout(1.5)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_backward(one_hot):
    rng = np.random.default_rng(0)
    x = asarray(rng.standard_normal((5, 4)))
    labels = np.array([0, 3, 1, 2, 2])
    t = asarray(np.eye(4)[labels] if one_hot else labels)
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward()
    numeric = numerical_gradient(lambda _: float(layer.forward(x, t)), x)
    assert_close(dx, numeric, atol=1e-6)


def test_softmax_with_loss_single_sample():
    layer = SoftmaxWithLoss()
    x = asarray(np.array([0.3, 2.9, 4.0]))
    loss = layer.forward(x, asarray(np.array([2])))
    assert float(loss) == pytest.approx(-np.log(0.73659691 + 1e-7), rel=1e-7)
    assert layer.backward().shape == (3,)
