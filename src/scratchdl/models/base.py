"""What every network is: a stack of layers ending in SoftmaxWithLoss.

One `predict`, `loss`, `accuracy`, `gradient` and `numerical_gradient` serve every
model of the book, so one training loop and one gradient check serve them all.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from scratchdl.engines.numgrad import loss_and_numerical_gradient
from scratchdl.functions import label_indices
from scratchdl.gradient import held_for_differences
from scratchdl.gradient import numerical_gradient as book_numerical_gradient
from scratchdl.layers import Layer, SoftmaxWithLoss
from scratchdl.runtime.backend import asarray, on_gpu, xp
from scratchdl.runtime.threads import blas_threads

NO_CHANGE = nullcontext()
"""The BLAS threads left as they are (a network without batch-splitting layers)."""


class ParamDict(dict):
    """`model.params`: book names (`W1`, `b1`, ...) to arrays, bound to the layers.

    Assigning a new array (as the book does when it loads a pickle) rebinds it in
    the layer that uses it, so the assignment takes effect.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bindings: dict[str, tuple[Layer, str]] = {}

    def bind(self, name: str, layer: Layer, key: str) -> None:
        """Name the layer's parameter `key`, moved to the active device if it is not there."""
        self.bindings[name] = (layer, key)
        layer.params[key] = asarray(layer.params[key])
        super().__setitem__(name, layer.params[key])

    def __setitem__(self, name: str, value) -> None:
        if name not in self.bindings:
            raise KeyError(f"{name!r} is not a parameter of this model; it has {list(self)}")
        layer, key = self.bindings[name]
        old = layer.params[key]
        if value is old:  # an in-place update (`params[key] -= ...`), or a copy filling in
            super().__setitem__(name, value)
            return
        value = asarray(value)
        if value.shape != old.shape:
            raise ValueError(
                f"parameter {name} must have shape {old.shape}, got {value.shape}"
            )
        layer.params[key] = value
        super().__setitem__(name, value)


def init_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """The run's generator: pass a Generator through, or seed a new one."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


INIT_GAINS = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}
"""Named initialisations: the std is sqrt(gain / fan_in) (He for ReLU, Xavier for sigmoid)."""


def init_std(weight_init_std: float | str) -> float | str:
    """`weight_init_std` checked: a positive number, or a name of `INIT_GAINS` (lower case)."""
    name = str(weight_init_std).lower()
    if name in INIT_GAINS:
        return name
    try:
        scale = float(weight_init_std)
    except ValueError:
        raise ValueError(f"weight_init_std must be a number or one of {', '.join(INIT_GAINS)}; "
                         f"got {weight_init_std!r}") from None
    if not 0 < scale < float("inf"):
        raise ValueError(f"weight_init_std must be positive, got {weight_init_std!r}")
    return scale


def weight_scale(weight_init_std: float | str, fan_in: int) -> float:
    """The std of a layer's initial weights: a number as it is, a name as sqrt(gain / fan_in)."""
    std = init_std(weight_init_std)
    if isinstance(std, str):
        return float(np.sqrt(INIT_GAINS[std] / fan_in))
    return std


class Net:
    """A network of the book: `layers` in order, then `last_layer` (SoftmaxWithLoss).

    Subclasses build their layers with `add`. `params` maps book names to arrays;
    `weight_decay_lambda` adds 0.5 * lambda * sum(W**2) over the weights `W1, W2, ...`
    to the loss, as in the book.
    """

    accuracy_batch = 1000
    """Images per forward pass in `accuracy`: large products for fully connected
    networks; convolutional ones set fewer, so their activations stay in cache."""

    device_batch = 1000
    """Images per forward pass in `accuracy` on a GPU, for every network: there a pass
    costs its kernel launches whatever its size, and 1,000 images' activations fit."""

    def __init__(self, dtype=np.float64, weight_decay_lambda: float = 0.0) -> None:
        if weight_decay_lambda < 0:
            raise ValueError(f"weight_decay_lambda must be >= 0, got {weight_decay_lambda}")
        self.dtype = np.dtype(dtype)
        self.weight_decay_lambda = weight_decay_lambda
        self.layers: list[Layer] = []
        self.last_layer = SoftmaxWithLoss()
        self.params = ParamDict()
        self.config: dict = {}

    def add(self, layer: Layer, **names: str) -> Layer:
        """Append a layer; `names` maps its parameter keys to book names, e.g. W="W1".

        The first layer's dx is never used, so its backward skips computing it.
        """
        layer.input_grad = bool(self.layers)
        self.layers.append(layer)
        for key, name in names.items():
            self.params.bind(name, layer, key)
        return layer

    def new_param(self, array: np.ndarray):
        """A parameter array in the model's dtype on the active device."""
        return asarray(np.asarray(array, dtype=self.dtype))

    @property
    def decayed(self) -> list[str]:
        """Names of the parameters under weight decay: the weights W1, W2, ..."""
        return [n for n in self.params if n.startswith("W")] if self.weight_decay_lambda else []

    @property
    def splits_batch(self) -> bool:
        """True when some layer splits its batch over worker threads (the convolutions)."""
        return any(layer.splits_batch for layer in self.layers)

    def predict(self, x, train: bool = False):
        """Scores before softmax. x: (N, ...) -> (N, output_size), on the active device
        (x may be on the host: it is moved there)."""
        x = asarray(x)
        with self.blas_threads():
            for layer in self.layers:
                x = layer.forward(x, train)
        return x

    def blas_threads(self):
        """One BLAS thread while layers run that split the batch over worker threads.

        Their threads need the cores: BLAS threads woken by the layers between them
        (an Affine's product) spin on and slow every step. The network holds this
        itself, so every way of calling it is as fast.
        """
        return blas_threads(1) if self.splits_batch else NO_CHANGE

    def weight_decay(self) -> float:
        """0.5 * lambda * sum of squared weights (0 without weight decay)."""
        lam = self.weight_decay_lambda
        return sum(0.5 * lam * float((self.params[n] ** 2).sum()) for n in self.decayed)

    def loss(self, x, t, train: bool = False) -> float:
        """Cross-entropy of the batch plus weight decay."""
        y = self.predict(x, train)
        return float(self.last_layer.forward(y, t)) + self.weight_decay()

    def predict_labels(self, x, batch_size: int | None = None):
        """The class predicted for each row of x (N,), in inference mode.

        batch_size: images per forward pass (default `accuracy_batch`, on a GPU
        `device_batch`).
        """
        batch_size = batch_size or (self.device_batch if on_gpu() else self.accuracy_batch)
        return xp.concatenate([
            self.predict(asarray(x[i : i + batch_size], self.dtype), train=False).argmax(axis=1)
            for i in range(0, x.shape[0], batch_size)
        ])

    def accuracy(self, x, t, batch_size: int | None = None) -> float:
        """Fraction of x classified as t (labels or one-hot), in inference mode."""
        labels = label_indices(asarray(t), x.shape[0])
        return int((self.predict_labels(x, batch_size) == labels).sum()) / x.shape[0]

    def gradient(self, x, t) -> dict:
        """Backprop: forward in training mode, backward through every layer.

        Returns a dict keyed like `params`. The batch loss is kept in `self.last_loss`.
        """
        with self.blas_threads():
            self.last_loss = self.loss(x, t, train=True)
            dout = self.last_layer.backward(1)
            for layer in reversed(self.layers):
                dout = layer.backward(dout)
        grads = {}
        for name, (layer, key) in self.params.bindings.items():
            grads[name] = layer.grads[key]
        for name in self.decayed:
            grads[name] = grads[name] + self.weight_decay_lambda * self.params[name]
        return grads

    def numerical_gradient(self, x, t, fast: bool = True) -> dict:
        """The book's numerical gradient (4.4.2): for every parameter W, the central
        difference (L(W + h) - L(W - h)) / 2h of the batch loss, h = 1e-4, in turn.

        fast=False runs the book's own loop, `scratchdl.gradient.numerical_gradient`
        over each parameter, one element at a time: two forward passes per element
        (79,520 for TwoLayerNet). The default, the engine in `scratchdl.engines.numgrad`, gives
        the same numbers in a fraction of the time. Both take the training-mode loss in
        float64 whatever the model's dtype, hold the dropout masks of one forward pass,
        and leave batch norm's running statistics as they were. Returns a dict keyed
        like `params`; the batch loss is kept in `self.last_loss`.
        """
        if fast:
            self.last_loss, grads = loss_and_numerical_gradient(self, x, t)
            return grads
        x, t = asarray(x, np.float64), asarray(t)
        with held_for_differences(self):
            self.last_loss = self.loss(x, t, train=True)  # draws the masks the loop holds

            def loss_W(W):
                return self.loss(x, t, train=True)

            return {name: book_numerical_gradient(loss_W, self.params[name])
                    for name in self.params}

    def buffers(self) -> dict:
        """State that is not learned: batch norm's running mean and variance, by book index."""
        out = {}
        for name, (layer, key) in self.params.bindings.items():
            if key == "gamma":
                index = name[len("gamma"):]
                out[f"running_mean{index}"] = layer.running_mean
                out[f"running_var{index}"] = layer.running_var
        return out

    def set_buffer(self, name: str, value) -> None:
        """Replace one of `buffers()`, e.g. `running_mean1`."""
        attr = "running_mean" if name.startswith("running_mean") else "running_var"
        layer, _ = self.params.bindings["gamma" + name.removeprefix(attr)]
        setattr(layer, attr, asarray(value))

    def n_params(self) -> int:
        """Number of learnable scalars."""
        return int(sum(p.size for p in self.params.values()))
