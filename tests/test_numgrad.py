"""The fast numerical-gradient engine computes the book's central differences.

Reference: the naive method (perturb each parameter by +-h, evaluate the training
batch loss, restore), in float64. The engine must agree to 1e-9 everywhere (it
agrees to ~1e-12, the rounding noise of the reference), on every kind of model.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_equal, host
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchdl.backend import asarray
from scratchdl.gradient import H
from scratchdl.layers import Affine, Layer, Relu, Sigmoid
from scratchdl.models import MultiLayerNet, MultiLayerNetExtend, Net, SimpleConvNet, TwoLayerNet
from scratchdl.numgrad import numerical_gradient, series

TOL = 1e-9

pytestmark = pytest.mark.xp


def naive(model: Net, x, t) -> dict:
    """The book's method on every parameter: its loop over `gradient.numerical_gradient`."""
    return model.numerical_gradient(x, t, fast=False)


def naive_at(model: Net, x, t, name: str, indices) -> np.ndarray:
    """The book's method on selected elements of one parameter only."""
    p = model.params[name]
    out = []
    for idx in indices:
        old = p[idx].copy()
        p[idx] = old + H
        plus = model.loss(x, t, train=True)
        p[idx] = old - H
        minus = model.loss(x, t, train=True)
        p[idx] = old
        out.append((plus - minus) / (2 * H))
    return np.array(out)


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].shape == b[name].shape and a[name].dtype == np.float64
    return max(float(np.abs(a[name] - b[name]).max()) for name in a)


def sparse_inputs(rng, n: int, d: int, density: float = 0.3) -> np.ndarray:
    """MNIST-like rows: values in [0, 1), most of them exactly zero."""
    return rng.random((n, d)) * (rng.random((n, d)) < density)


def freeze_dropout(model: Net, x, t) -> None:
    """Draw the dropout masks once and hold them, so the naive method can be compared."""
    for layer in model.layers:
        if hasattr(layer, "frozen"):
            layer.frozen = True
    model.loss(x, t, train=True)


SMALL_MODELS = {
    "two-sigmoid": lambda: TwoLayerNet(30, 8, 6, weight_init_std=0.5, rng=1),
    "two-relu": lambda: TwoLayerNet(30, 8, 6, weight_init_std=0.5, activation="relu", rng=1),
    "multi-relu": lambda: MultiLayerNet(30, [7, 5], 6, rng=2),
    "multi-sigmoid-decay": lambda: MultiLayerNet(30, [7, 5], 6, activation="sigmoid",
                                                 weight_init_std="sigmoid",
                                                 weight_decay_lambda=0.1, rng=3),
    "multi-relu-decay": lambda: MultiLayerNet(30, [7, 5], 6, weight_decay_lambda=0.3, rng=3),
    "dropout-relu": lambda: MultiLayerNetExtend(30, [7, 5], 6, use_dropout=True,
                                                dropout_ration=0.3, rng=4),
    "dropout-sigmoid": lambda: MultiLayerNetExtend(30, [7, 5], 6, activation="sigmoid",
                                                   use_dropout=True, rng=4),
    "batchnorm-relu": lambda: MultiLayerNetExtend(30, [7, 5], 6, use_batchnorm=True, rng=5),
    "batchnorm-dropout-decay": lambda: MultiLayerNetExtend(
        30, [7, 5], 6, activation="sigmoid", use_batchnorm=True, use_dropout=True,
        weight_decay_lambda=0.1, rng=6),
}


@pytest.mark.parametrize("batch", [1, 4, 13])
@pytest.mark.parametrize("kind", SMALL_MODELS)
def test_matches_naive_on_small_nets(kind, batch):
    if "batchnorm" in kind and batch == 1:
        pytest.skip("batch norm over one row has zero variance")
    rng = np.random.default_rng(batch)
    model = SMALL_MODELS[kind]()
    x, t = sparse_inputs(rng, batch, 30), rng.integers(0, 6, batch)
    freeze_dropout(model, x, t)
    assert max_diff(numerical_gradient(model, x, t), naive(model, x, t)) <= TOL


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_narrow_net_on_mnist_rows_whole_gradient(mnist, activation):
    (x_train, t_train), _ = mnist
    x, t = x_train[:20].astype(np.float64), t_train[:20]
    model = TwoLayerNet(784, 3, 10, weight_init_std=0.1, activation=activation, rng=0)
    assert max_diff(numerical_gradient(model, x, t), naive(model, x, t)) <= TOL


@pytest.mark.parametrize(("activation", "steps"), [("sigmoid", 0), ("sigmoid", 30), ("relu", 30)])
def test_seed_net_on_mnist_batch_selected_parameters(mnist, activation, steps):
    """The seed network (784-50-10) on 100 real images, at init and after some training."""
    (x_train, t_train), _ = mnist
    rng = np.random.default_rng(0)
    model = TwoLayerNet(784, 50, 10, weight_init_std=0.01, activation=activation, rng=0)
    for _ in range(steps):
        batch = rng.choice(len(x_train), 100, replace=False)
        grads = model.gradient(x_train[batch].astype(np.float64), t_train[batch])
        for name in grads:
            model.params[name] -= 0.5 * grads[name]
    x, t = x_train[:100].astype(np.float64), t_train[:100]
    fast = numerical_gradient(model, x, t)
    pixels = np.concatenate([rng.choice(784, 40, replace=False), [0, 200, 406, 783]])
    chosen = {
        "W1": [(i, j) for i in pixels for j in rng.choice(50, 4, replace=False)],
        "b1": [(j,) for j in range(50)],
        "W2": [(i, j) for i in range(50) for j in range(10)],
        "b2": [(j,) for j in range(10)],
    }
    for name, indices in chosen.items():
        expected = naive_at(model, x, t, name, indices)
        got = np.array([host(fast[name])[idx] for idx in indices])
        assert np.abs(got - expected).max() <= TOL, name


def large_curvature_net(w2_scale: float):
    """Unnormalized pixels (0..255, eps up to 0.0255) and large output weights."""
    rng = np.random.default_rng(7)
    model = TwoLayerNet(20, 6, 4, weight_init_std=0.003, rng=7)
    model.params["W2"] *= w2_scale
    x, t = np.round(sparse_inputs(rng, 8, 20, 0.5) * 255), rng.integers(0, 4, 8)
    return model, x, t


def test_central_difference_not_derivative(monkeypatch):
    """Where the O(h^2) term is large, the series alone follows the naive method."""
    monkeypatch.setattr(series, "TAIL", np.inf)
    model, x, t = large_curvature_net(300)
    reference = naive(model, x, t)
    assert max_diff(model.gradient(x, t), reference) > 1e-4
    assert max_diff(numerical_gradient(model, x, t), reference) <= TOL


def test_unconverged_series_falls_back_to_direct_rows(monkeypatch):
    model, x, t = large_curvature_net(3000)
    reference = naive(model, x, t)
    assert max_diff(numerical_gradient(model, x, t), reference) <= TOL
    monkeypatch.setattr(series, "TAIL", np.inf)
    assert max_diff(numerical_gradient(model, x, t), reference) > 1e-8


def test_matches_backprop_with_small_weights():
    rng = np.random.default_rng(8)
    model = MultiLayerNet(30, [10, 10], 5, activation="sigmoid", weight_init_std=0.1,
                          weight_decay_lambda=0.05, rng=8)
    x, t = sparse_inputs(rng, 10, 30) * 0.5, rng.integers(0, 5, 10)
    assert max_diff(numerical_gradient(model, x, t), model.gradient(x, t)) <= 1e-6


def test_relu_kinks_are_evaluated_directly():
    """Pre-activations within h * x of zero (and exactly zero) in both hidden layers."""
    rng = np.random.default_rng(9)
    model = MultiLayerNet(12, [6, 5], 4, rng=9)
    x, t = sparse_inputs(rng, 6, 12, 0.6), rng.integers(0, 4, 6)
    x[5] = 0.0
    W1, W2 = host(model.params["W1"]), host(model.params["W2"])
    b1 = -(x @ W1)[0] + np.array([3e-5, -2e-5, 0.0, 1e-9, 0.2, -0.2])
    model.params["b1"][...] = asarray(b1)
    b2 = -(np.maximum(x @ W1 + b1, 0) @ W2)[1] + np.array([1e-6, -5e-6, 0.1, 0.1, -0.1])
    model.params["b2"][...] = asarray(b2)
    reference = naive(model, x, t)
    assert max_diff(model.gradient(x, t), reference) > 1e-3
    assert max_diff(numerical_gradient(model, x, t), reference) <= TOL


def test_simple_conv_net():
    rng = np.random.default_rng(11)
    model = SimpleConvNet(input_dim=(1, 6, 6), conv_param={"filter_num": 2, "filter_size": 3},
                          hidden_size=4, output_size=3, weight_init_std=0.3, rng=11)
    x, t = sparse_inputs(rng, 3, 36).reshape(3, 1, 6, 6), rng.integers(0, 3, 3)
    assert max_diff(numerical_gradient(model, x, t), naive(model, x, t)) <= TOL


class Center(Layer):
    """Subtracts the batch mean: not row-local, unknown to the engine."""

    def forward(self, x, train: bool = True):
        return x - x.mean(axis=0)


class Scale(Layer):
    """y = x * s, a parameter layer unknown to the engine."""

    def __init__(self, s) -> None:
        super().__init__()
        self.params = {"s": s}

    def forward(self, x, train: bool = True):
        return x * self.params["s"]


def test_unknown_layers_take_the_general_path():
    rng = np.random.default_rng(12)
    model = Net(weight_decay_lambda=0.2)
    model.add(Affine(rng.standard_normal((10, 5)), np.zeros(5)), W="W1", b="b1")
    model.add(Center())
    model.add(Scale(rng.random(5) + 0.5), s="s1")
    model.add(Sigmoid())
    model.add(Affine(rng.standard_normal((5, 3)), rng.standard_normal(3)), W="W2", b="b2")
    model.add(Relu())
    model.add(Affine(rng.standard_normal((3, 3)), np.zeros(3)), W="W3", b="b3")
    x, t = sparse_inputs(rng, 7, 10), rng.integers(0, 3, 7)
    assert max_diff(numerical_gradient(model, x, t), naive(model, x, t)) <= TOL


def test_one_hot_labels_give_the_same_gradient():
    rng = np.random.default_rng(13)
    model = TwoLayerNet(30, 8, 6, rng=13)
    x, t = sparse_inputs(rng, 9, 30), rng.integers(0, 6, 9)
    by_label, by_one_hot = numerical_gradient(model, x, t), numerical_gradient(
        model, x, np.eye(6)[t])
    assert max_diff(by_label, by_one_hot) == 0.0


def test_float32_model_is_differenced_in_float64():
    rng = np.random.default_rng(14)
    model32 = TwoLayerNet(30, 8, 6, weight_init_std=0.3, rng=14, dtype=np.float32)
    model64 = TwoLayerNet(30, 8, 6, weight_init_std=0.3, rng=14)
    for name in model64.params:
        model64.params[name] = model32.params[name].astype(np.float64)
    originals = dict(model32.params)
    x, t = sparse_inputs(rng, 5, 30).astype(np.float32), rng.integers(0, 6, 5)
    got = model32.numerical_gradient(x, t)
    assert max_diff(got, naive(model64, x.astype(np.float64), t)) <= TOL
    for name, p in model32.params.items():
        assert p is originals[name] and p.dtype == np.float32
        assert model32.layers[0].params["W"] is model32.params["W1"]


def test_state_is_restored_and_loss_kept():
    rng = np.random.default_rng(15)
    model = MultiLayerNetExtend(30, [7, 5], 6, use_batchnorm=True, use_dropout=True, rng=15)
    x, t = sparse_inputs(rng, 8, 30), rng.integers(0, 6, 8)
    model.loss(x, t, train=True)
    bn = [layer for layer in model.layers if hasattr(layer, "running_mean")]
    before = [(layer.running_mean.copy(), layer.running_var.copy()) for layer in bn]
    grads = model.numerical_gradient(x, t)
    for layer, (mean, var) in zip(bn, before, strict=True):
        assert_equal(layer.running_mean, mean)
        assert_equal(layer.running_var, var)
    dropouts = [layer for layer in model.layers if hasattr(layer, "frozen")]
    assert dropouts and not any(layer.frozen for layer in dropouts)
    # The engine drew one mask per dropout layer and held it: differencing with that
    # mask held gives the same numbers, and the kept loss is the loss with it.
    for layer in dropouts:
        layer.frozen = True
    assert model.last_loss == pytest.approx(model.loss(x, t, train=True), abs=1e-12)
    assert max_diff(grads, naive(model, x, t)) <= TOL


@settings(max_examples=15, deadline=None)
@given(
    activation=st.sampled_from(["sigmoid", "relu"]),
    batch=st.integers(1, 6),
    density=st.sampled_from([0.05, 0.3, 1.0]),
    scale=st.sampled_from([0.01, 0.3, 2.0]),
    decay=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_matches_naive_property(activation, batch, density, scale, decay, seed):
    rng = np.random.default_rng(seed)
    model = MultiLayerNet(9, [5, 4], 3, activation=activation, weight_init_std=scale,
                          weight_decay_lambda=decay, rng=seed)
    x, t = sparse_inputs(rng, batch, 9, density), rng.integers(0, 3, batch)
    assert max_diff(numerical_gradient(model, x, t), naive(model, x, t)) <= TOL


def test_the_books_loop_on_a_float32_model_runs_in_float64_and_leaves_it_as_it_was():
    rng = np.random.default_rng(11)
    model = TwoLayerNet(30, 8, 6, weight_init_std=0.5, rng=1, dtype=np.float32)
    x, t = sparse_inputs(rng, 4, 30), rng.integers(0, 6, 4)
    before = {name: p.copy() for name, p in model.params.items()}
    book = model.numerical_gradient(x, t, fast=False)
    assert max_diff(book, model.numerical_gradient(x, t)) < TOL
    for name, p in model.params.items():
        assert p.dtype == np.float32 and np.array_equal(p, before[name])
