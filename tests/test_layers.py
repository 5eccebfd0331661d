"""Every layer's backward against the numerical gradient of its forward (float64)."""

import numpy as np
import pytest

from scratchdl.gradient import numerical_gradient
from scratchdl.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
)


def check_layer(layer, x, rng, atol=1e-7, train=True):
    """Compare dL/dx and dL/dparams from backward with central differences of
    L = sum(forward(x) * R) for a fixed random R."""
    R = rng.standard_normal(layer.forward(x.copy(), train).shape)

    def L(_):
        return float(np.sum(layer.forward(x, train) * R))

    x_before = x.copy()
    dx = layer.backward(R.copy())
    R_before = R.copy()
    np.testing.assert_allclose(dx, numerical_gradient(L, x), atol=atol)
    for key, p in layer.params.items():
        layer.forward(x, train)
        layer.backward(R)
        analytic = layer.grads[key].copy()
        np.testing.assert_allclose(analytic, numerical_gradient(L, p), atol=atol, err_msg=key)
    assert np.array_equal(x, x_before), "forward/backward modified the input"
    assert np.array_equal(R, R_before), "backward modified dout"


@pytest.mark.parametrize("seed", range(3))
def test_relu_and_sigmoid(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from ReLU's kink
    check_layer(Relu(), x, rng)
    check_layer(Sigmoid(), x, rng)


@pytest.mark.parametrize("shape", [(5, 7), (3, 2, 4), (2, 1, 3, 3)])
def test_affine_any_input_shape(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    n_in = int(np.prod(shape[1:]))
    layer = Affine(rng.standard_normal((n_in, 4)), rng.standard_normal(4))
    assert layer.forward(x).shape == (shape[0], 4)
    check_layer(layer, x, rng)
    assert layer.backward(np.ones((shape[0], 4))).shape == shape


@pytest.mark.parametrize("shape", [(6, 5), (4, 2, 3, 3)])
def test_batch_normalization_train_mode(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    D = int(np.prod(shape[1:]))
    layer = BatchNormalization(rng.standard_normal(D), rng.standard_normal(D))
    check_layer(layer, x, rng, atol=1e-6)


def test_batch_normalization_normalizes_and_tracks_running_stats():
    rng = np.random.default_rng(0)
    layer = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.9)
    x = rng.standard_normal((500, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.0]
    y = layer.forward(x, train=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.1 * x.var(axis=0))
    for _ in range(200):
        layer.forward(x, train=True)
    y_inf = layer.forward(x, train=False)
    np.testing.assert_allclose(y_inf, y, atol=1e-3)


def test_dropout_statistics_and_modes():
    rng = np.random.default_rng(0)
    layer = Dropout(0.3, rng=rng)
    x = np.ones((1000, 100))
    y = layer.forward(x, train=True)
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert set(np.unique(y)) <= {0.0, 1.0}
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), 2.0 * layer.mask)
    np.testing.assert_allclose(layer.forward(x, train=False), 0.7)


def test_dropout_frozen_mask_gradient():
    rng = np.random.default_rng(0)
    layer = Dropout(0.5, rng=rng)
    x = rng.standard_normal((4, 5))
    layer.forward(x)
    layer.frozen = True
    check_layer(layer, x, rng)


def test_dropout_rejects_bad_ratio():
    with pytest.raises(ValueError, match="dropout_ratio"):
        Dropout(1.5)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_backward(one_hot):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 2, 2])
    t = np.eye(4)[labels] if one_hot else labels
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward()
    numeric = numerical_gradient(lambda _: float(layer.forward(x, t)), x)
    np.testing.assert_allclose(dx, numeric, atol=1e-6)


def test_softmax_with_loss_single_sample():
    layer = SoftmaxWithLoss()
    x = np.array([0.3, 2.9, 4.0])
    loss = layer.forward(x, np.array([2]))
    assert loss == pytest.approx(-np.log(0.73659691 + 1e-7), rel=1e-7)
    assert layer.backward().shape == (3,)
