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

from scratchdl.engines.numgrad import numerical_gradient, series
from scratchdl.functions import DELTA
from scratchdl.gradient import h
from scratchdl.layers import Affine, Dropout, Layer, Relu, Sigmoid
from scratchdl.models import MultiLayerNet, MultiLayerNetExtend, Net, SimpleConvNet, TwoLayerNet
from scratchdl.runtime.backend import asarray

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
        p[idx] = old + h
        plus = model.loss(x, t, train=True)
        p[idx] = old - h
        minus = model.loss(x, t, train=True)
        p[idx] = old
        out.append((plus - minus) / (2 * h))
    return np.array(out)


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].shape == b[name].shape and a[name].dtype == np.float64
    return max(float(np.abs(a[name] - b[name]).max()) for name in a)


def sparse_inputs(rng, n: int, d: int, density: float = 0.3) -> np.ndarray:
    """MNIST-like rows: values in [0, 1), most of them exactly zero."""
    return rng.random((n, d)) * (rng.random((n, d)) < density)


def hold_dropout_masks(model: Net, x, t) -> None:
    """Draw the dropout masks once and hold them, so the naive method can be compared."""
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.hold_mask = True
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
    hold_dropout_masks(model, x, t)
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
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    assert dropouts and not any(layer.hold_mask for layer in dropouts)
    # The engine drew one mask per dropout layer and held it: differencing with that
    # mask held gives the same numbers, and the kept loss is the loss with it.
    for layer in dropouts:
        layer.hold_mask = True
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


def sigmoid(a: np.ndarray) -> np.ndarray:
    """The book's sigmoid, on the host."""
    return 1 / (1 + np.exp(-a))


def row_losses(U: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log(softmax(U)[t] + DELTA) for each row of U (..., C), as the book's loss has it."""
    E = np.exp(U - U.max(axis=-1, keepdims=True))
    y = E / E.sum(axis=-1, keepdims=True)
    return -np.log(np.take_along_axis(y, labels, axis=-1)[..., 0] + DELTA)


def taylor(c: np.ndarray, eps: float) -> np.ndarray:
    """sum_m c[m-1] eps^m for stacked coefficients c (M, ...)."""
    return sum(c[m - 1] * eps**m for m in range(1, c.shape[0] + 1))


def test_sigmoid_series_is_its_taylor_series():
    """The textbook derivatives for m <= 3; all five terms follow sigmoid to O(eps^6)."""
    rng = np.random.default_rng(16)
    a = rng.normal(0, 3, (4, 5))
    y = sigmoid(a)
    c = host(series.sigmoid_series(asarray(np.ones((1, 4, 5))), asarray(y)))
    g = y * (1 - y)
    np.testing.assert_allclose(c[0], g, rtol=1e-12)
    np.testing.assert_allclose(c[1], g * (1 - 2 * y) / 2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c[2], g * (1 - 6 * y + 6 * y**2) / 6, rtol=1e-12, atol=1e-15)
    errors = [np.abs(taylor(c, eps) - (sigmoid(a + eps) - y)).max() for eps in (0.02, 0.01)]
    assert errors[0] < 1e-11 and 30 < errors[0] / errors[1] < 100
    # Through a nonlinear inner series A(eps) = a + 0.7 eps + 0.3 eps^2 - 0.2 eps^3.
    inner = np.array([0.7, 0.3, -0.2])[:, None, None] * np.ones((3, 4, 5))
    c = host(series.sigmoid_series(asarray(inner), asarray(y)))
    for eps in (0.02, -0.02):
        exact = sigmoid(a + taylor(inner, eps)) - y
        assert np.abs(taylor(c, eps) - exact).max() < 1e-11


def direction_case(rng, n=6, j=4, classes=5):
    """Logits, directions, a degree-5 series of how far, labels; row 0's label has p ~ 1e-9."""
    U = rng.normal(0, 2, (n, classes))
    labels = rng.integers(0, classes, n)
    U[0, labels[0]] -= 25
    w = rng.normal(0, 0.7, (j, classes))
    sigma = rng.normal(0, 1, (series.ORDER, n, j))
    return U, w, sigma, labels


def test_loss_along_a_direction_is_its_taylor_series():
    """The moments route follows the loss evaluated directly, to O(eps^6), DELTA included."""
    U, w, sigma, labels = direction_case(np.random.default_rng(17))
    c = host(series.direction_loss_series(*map(asarray, (U, w, sigma, labels))))
    t = np.broadcast_to(labels[:, None, None], (6, 4, 1))
    base = row_losses(U, labels[:, None])[:, None]
    errors = []
    for eps in (0.02, 0.01):
        moved = U[:, None, :] + taylor(sigma, eps)[..., None] * w
        errors.append(np.abs(taylor(c, eps) - (row_losses(moved, t) - base)).max())
    assert errors[0] < 1e-9 and 50 < errors[0] / errors[1] < 80


def test_direction_and_full_layouts_agree():
    """The moments route and the per-class route (exp of every logit) give one series."""
    U, w, sigma, labels = direction_case(np.random.default_rng(18))
    by_moments = host(series.direction_loss_series(*map(asarray, (U, w, sigma, labels))))
    by_classes = host(series.softmax_loss_series(
        *map(asarray, (U[:, None, :], sigma[..., None] * w, labels))))
    scale = np.abs(by_classes).max(axis=(1, 2), keepdims=True)
    assert (np.abs(by_moments - by_classes) / scale).max() < 1e-11


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_units_in_many_blocks(monkeypatch, activation):
    """Units differenced in blocks of one give the naive numbers too."""
    rng = np.random.default_rng(19)
    model = MultiLayerNet(30, [7, 5], 6, activation=activation, weight_init_std=0.5, rng=19)
    x, t = sparse_inputs(rng, 5, 30), rng.integers(0, 6, 5)
    whole = numerical_gradient(model, x, t)
    monkeypatch.setattr("scratchdl.engines.numgrad.affine.BLOCK", 1)
    blocked = numerical_gradient(model, x, t)
    assert max_diff(blocked, whole) <= 1e-15
    assert max_diff(blocked, naive(model, x, t)) <= TOL


def test_inputs_zero_in_every_row_have_exactly_zero_gradient():
    rng = np.random.default_rng(20)
    model = TwoLayerNet(30, 8, 6, weight_init_std=0.5, rng=20)
    x, t = sparse_inputs(rng, 7, 30, 0.8), rng.integers(0, 6, 7)
    x[:, [0, 3, 29]] = 0.0
    fast, reference = numerical_gradient(model, x, t), naive(model, x, t)
    W1, W1_naive = host(fast["W1"]), host(reference["W1"])
    assert np.all(W1[[0, 3, 29]] == 0) and np.all(W1_naive[[0, 3, 29]] == 0)
    assert np.all(W1[[1, 2]] != 0)
    assert max_diff(fast, reference) <= TOL


@pytest.mark.parametrize("Last", [Sigmoid, Relu])
def test_activation_after_the_last_affine(Last):
    """Logits that pass through one more row-local layer before SoftmaxWithLoss."""
    rng = np.random.default_rng(21)
    model = Net()
    model.add(Affine(rng.standard_normal((12, 6)) * 0.5, rng.standard_normal(6)), W="W1", b="b1")
    model.add(Sigmoid())
    model.add(Affine(rng.standard_normal((6, 4)), rng.standard_normal(4)), W="W2", b="b2")
    model.add(Last())
    x, t = sparse_inputs(rng, 5, 12), rng.integers(0, 4, 5)
    assert max_diff(numerical_gradient(model, x, t), naive(model, x, t)) <= TOL


def test_each_numerical_gradient_draws_its_own_dropout_mask():
    """Like backprop, every numerical gradient (a training step) draws new dropout masks,
    from the model's generator, and holds them only while it differences."""
    model = MultiLayerNetExtend(20, [6], 3, use_dropout=True, dropout_ration=0.5, rng=0)
    x = np.random.default_rng(1).random((5, 20))
    t = np.array([0, 1, 2, 0, 1])
    dropout = next(layer for layer in model.layers if isinstance(layer, Dropout))
    masks = []
    for _ in range(3):
        model.numerical_gradient(x, t)
        masks.append(host(dropout.mask).copy())
        assert not dropout.hold_mask
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
