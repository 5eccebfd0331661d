"""SimpleConvNet and DeepConvNet: the book's shapes, gradients, weights and accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, assert_equal

from scratchdl.gradient import numerical_gradient
from scratchdl.io import load_book_params
from scratchdl.layers import Dropout
from scratchdl.models import MODELS, DeepConvNet, SimpleConvNet, build_model
from scratchdl.optim import Adam
from scratchdl.runtime.backend import asarray

pytestmark = pytest.mark.xp

SIMPLE_SHAPES = {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                 "W3": (100, 10), "b3": (10,)}
DEEP_SHAPES = {
    "W1": (16, 1, 3, 3), "b1": (16,), "W2": (16, 16, 3, 3), "b2": (16,),
    "W3": (32, 16, 3, 3), "b3": (32,), "W4": (32, 32, 3, 3), "b4": (32,),
    "W5": (64, 32, 3, 3), "b5": (64,), "W6": (64, 64, 3, 3), "b6": (64,),
    "W7": (1024, 50), "b7": (50,), "W8": (50, 10), "b8": (10,),
}


def shapes(model):
    return {name: tuple(p.shape) for name, p in model.params.items()}


def test_book_parameter_shapes_and_registry():
    assert shapes(SimpleConvNet()) == SIMPLE_SHAPES
    assert shapes(DeepConvNet()) == DEEP_SHAPES
    assert MODELS["simple-conv"] is SimpleConvNet and MODELS["deep-conv"] is DeepConvNet


@pytest.mark.parametrize("cls", [SimpleConvNet, DeepConvNet])
def test_forward_shapes_dtype_and_rebuild_from_config(cls):
    model = cls(rng=0, dtype=np.float32)
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    y = model.predict(x)
    assert y.shape == (3, 10) and y.dtype == np.float32
    grads = model.gradient(x, np.array([1, 2, 3]))
    assert {k: g.shape for k, g in grads.items()} == shapes(model)
    assert all(g.dtype == np.float32 for g in grads.values())
    rebuilt = build_model(model.config, rng=0, dtype=np.float32)
    assert shapes(rebuilt) == shapes(model)
    for name in model.params:
        assert_equal(rebuilt.params[name], model.params[name])


def test_initialization_scales():
    simple = SimpleConvNet(rng=1)
    assert abs(simple.params["W2"].std() - 0.01) < 0.001
    assert not simple.params["b1"].any()
    deep = DeepConvNet(rng=1)
    for name, fan_in in [("W2", 144), ("W6", 576), ("W7", 1024), ("W8", 50)]:
        assert abs(deep.params[name].std() / np.sqrt(2 / fan_in) - 1) < 0.1, name


def check_model_gradient(model, x, t):
    """Backprop against central differences; random biases keep ReLUs off their kink."""
    x, t = asarray(x), asarray(t)
    rng = np.random.default_rng(4)
    for name, p in model.params.items():
        if name.startswith("b"):
            model.params[name] = 0.1 * rng.standard_normal(p.shape)
    grads = model.gradient(x, t)
    for name, p in model.params.items():
        expected = numerical_gradient(lambda _: model.loss(x, t, train=True), p)
        assert_close(grads[name], expected, rtol=1e-5, atol=1e-7, err_msg=name)


def test_simple_conv_net_gradient():
    model = SimpleConvNet(input_dim=(2, 7, 7), hidden_size=6, output_size=3,
                          conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
                          weight_init_std=0.3, rng=0)
    rng = np.random.default_rng(0)
    check_model_gradient(model, rng.standard_normal((4, 2, 7, 7)), np.array([0, 1, 2, 1]))


def test_deep_conv_net_gradient_with_held_dropout():
    def conv(n, pad=1):
        return {"filter_num": n, "filter_size": 3, "pad": pad, "stride": 1}

    model = DeepConvNet(input_dim=(1, 8, 8), conv_param_1=conv(2), conv_param_2=conv(2),
                        conv_param_3=conv(3), conv_param_4=conv(3, 2), conv_param_5=conv(2),
                        conv_param_6=conv(2), hidden_size=5, output_size=3, rng=0)
    assert model.params["W7"].shape == (2 * 1 * 1, 5)
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((3, 1, 8, 8)), np.array([0, 2, 1])
    model.predict(x, train=True)
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.hold_mask = True
    check_model_gradient(model, x, t)


def test_fast_and_book_paths_give_the_same_model_gradient():
    x = np.random.default_rng(2).random((5, 1, 28, 28))
    t = np.arange(5)
    fast, book = DeepConvNet(rng=3), DeepConvNet(rng=3, fast=False)
    assert fast.splits_batch and not book.splits_batch
    g_fast, g_book = fast.gradient(x, t), book.gradient(x, t)
    assert fast.last_loss == pytest.approx(book.last_loss, rel=1e-12)
    for name in g_fast:
        assert_close(g_fast[name], g_book[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cls, filename, accuracy", [
    (SimpleConvNet, "ch07_simple_convnet_params.pkl", 0.9890),
    (DeepConvNet, "ch08_deep_convnet_params.pkl", 0.9935),
])
def test_book_weights_reproduce_the_books_accuracy(cls, filename, accuracy, book_weights,
                                                   mnist_nchw):
    _, (x_test, t_test) = mnist_nchw
    model = load_book_params(cls(dtype=np.float64), book_weights / filename)
    assert model.accuracy(x_test, t_test, batch_size=200) == accuracy


def test_simple_conv_net_learns_real_digits(mnist_nchw):
    (x_train, t_train), (x_test, t_test) = mnist_nchw
    rng = np.random.default_rng(0)
    model = SimpleConvNet(rng=rng, dtype=np.float32)
    optimizer = Adam(lr=0.001)
    x_sub, t_sub = x_train[:6000], t_train[:6000]
    for _ in range(150):
        batch = rng.choice(len(x_sub), 100, replace=False)
        optimizer.update(model.params, model.gradient(x_sub[batch], t_sub[batch]))
    assert model.accuracy(x_test[:2000], t_test[:2000]) > 0.8  # 0.88 here; chance is 0.1
