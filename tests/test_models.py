"""TwoLayerNet and MultiLayerNet(Extend): shapes, book names, gradients."""

import copy

import numpy as np
import pytest
from helpers import assert_close, host

from scratchdl.gradient import numerical_gradient
from scratchdl.models import MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet
from scratchdl.runtime.backend import asarray

pytestmark = pytest.mark.xp


def test_two_layer_net_book_shapes_and_init():
    net = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, weight_init_std=0.01, rng=0)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}
    assert abs(float(net.params["W1"].std()) - 0.01) < 0.0005
    assert not net.params["b1"].any() and not net.params["b2"].any()
    assert net.n_params() == 39760
    x = np.random.default_rng(0).random((7, 784))
    assert net.predict(x).shape == (7, 10)


def test_same_seed_same_weights_and_float32():
    a = TwoLayerNet(784, 50, 10, rng=3)
    b = TwoLayerNet(784, 50, 10, rng=3, dtype=np.float32)
    assert b.params["W1"].dtype == np.float32
    assert np.array_equal(host(a.params["W1"]).astype(np.float32), host(b.params["W1"]))


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_two_layer_net_gradient_matches_numerical(activation):
    rng = np.random.default_rng(0)
    net = TwoLayerNet(12, 6, 4, weight_init_std=0.5, activation=activation, rng=rng)
    x = rng.random((5, 12))
    t = np.array([0, 1, 2, 3, 1])
    backprop = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    for key in net.params:
        assert np.abs(host(backprop[key]) - host(numeric[key])).max() < 1e-7, key


def test_two_layer_net_gradient_on_the_seed_network(mnist):
    (x_train, t_train), _ = mnist
    net = TwoLayerNet(784, 50, 10, rng=0)
    x, t = asarray(x_train[:3], np.float64), asarray(t_train[:3])
    backprop = net.gradient(x, t)

    def L(_):
        return net.loss(x, t)

    for key in ("b1", "W2", "b2"):
        numeric = numerical_gradient(L, net.params[key])
        assert np.abs(host(backprop[key]) - host(numeric)).max() < 1e-7, key


def test_assigning_params_takes_effect():
    net = TwoLayerNet(4, 3, 2, rng=0)
    x = np.ones((1, 4))
    net.params["W2"] = np.zeros((3, 2))
    net.params["b2"] = np.array([1.0, 2.0])
    assert_close(net.predict(x), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="shape"):
        net.params["W1"] = np.zeros((5, 5))
    with pytest.raises(KeyError, match="W9"):
        net.params["W9"] = np.zeros(1)


def test_a_copied_network_has_its_own_params():
    """copy.deepcopy (the background evaluation's, the lab's views') keeps every parameter,
    bound to the copy's layers."""
    net = MultiLayerNetExtend(4, [3, 3], 2, use_batchnorm=True, use_dropout=True, rng=0)
    twin = copy.deepcopy(net)
    assert list(twin.params) == list(net.params)
    for name, value in net.params.items():
        np.testing.assert_array_equal(host(twin.params[name]), host(value))
        assert twin.params[name] is not value
    twin.params["W1"] += 1.0
    x = asarray(np.ones((2, 4)))
    assert not np.allclose(host(twin.predict(x)), host(net.predict(x)))
    twin.params["W2"] = asarray(np.zeros((3, 3)))
    assert twin.layers[4].params["W"] is twin.params["W2"]


def test_accuracy_labels_and_one_hot():
    net = TwoLayerNet(4, 3, 2, rng=0)
    net.params["W2"] = np.zeros((3, 2))
    net.params["b2"] = np.array([0.0, 1.0])
    x = np.ones((4, 4))
    assert net.accuracy(x, np.array([1, 1, 0, 1])) == 0.75
    assert net.accuracy(x, np.eye(2)[[1, 1, 0, 1]]) == 0.75


def test_accuracy_is_the_same_in_any_batch_size():
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 3, "filter_size": 3,
                        "pad": 0, "stride": 1}, hidden_size=5, output_size=3, rng=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((257, 1, 8, 8)), rng.integers(0, 3, 257)
    assert net.accuracy_batch == 100  # the book's convnets evaluate 100 images at a time
    expected = np.mean(host(net.predict(x)).argmax(axis=1) == t)
    assert [net.accuracy(x, t, b) for b in (None, 1, 100, 256, 1000)] == [expected] * 5


@pytest.mark.parametrize("bad", [
    dict(activation="tanh"), dict(hidden_size=0),
])
def test_two_layer_net_rejects_bad_arguments(bad):
    args = dict(input_size=4, hidden_size=3, output_size=2) | bad
    with pytest.raises(ValueError):
        TwoLayerNet(**args)


def test_multi_layer_net_book_names_and_scales():
    net = MultiLayerNet(784, [100, 100, 100], 10, weight_init_std="he", rng=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"]
    assert abs(float(net.params["W2"].std()) - np.sqrt(2 / 100)) < 0.01
    xavier = MultiLayerNet(784, [100], 10, activation="sigmoid", weight_init_std="xavier", rng=0)
    assert abs(float(xavier.params["W1"].std()) - np.sqrt(1 / 784)) < 0.002
    with pytest.raises(ValueError, match="weight_init_std"):
        MultiLayerNet(4, [3], 2, weight_init_std="bogus")


def test_multi_layer_net_extend_names():
    net = MultiLayerNetExtend(20, [10, 8], 5, use_batchnorm=True, use_dropout=True, rng=0)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                                "W3", "b3"]
    assert set(net.buffers()) == {"running_mean1", "running_var1", "running_mean2",
                                  "running_var2"}


@pytest.mark.parametrize("options", [
    dict(),
    dict(weight_decay_lambda=0.1),
    dict(activation="sigmoid", weight_init_std="sigmoid", weight_decay_lambda=0.05),
    dict(use_batchnorm=True),
    dict(use_batchnorm=True, weight_decay_lambda=0.1),
])
def test_multi_layer_net_gradient_matches_numerical(options):
    rng = np.random.default_rng(1)
    net = MultiLayerNetExtend(8, [6, 5], 3, rng=rng, **options)
    x = rng.random((4, 8))
    t = np.array([0, 1, 2, 1])
    backprop = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    for key in net.params:
        assert np.abs(host(backprop[key]) - host(numeric[key])).max() < 1e-7, key


def test_weight_decay_enters_the_loss():
    rng = np.random.default_rng(0)
    plain = MultiLayerNet(4, [3], 2, rng=0)
    decayed = MultiLayerNet(4, [3], 2, weight_decay_lambda=0.5, rng=0)
    x, t = rng.random((2, 4)), np.array([0, 1])
    squares = sum(float((decayed.params[k] ** 2).sum()) for k in ("W1", "W2"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + 0.25 * squares)
