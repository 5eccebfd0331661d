"""Overfitting and its remedies (chapter 6.4; the book's `overfit_weight_decay.py` and
`overfit_dropout.py`).

A 7-layer ReLU network (784-100x6-10, He init) trained on only the first 300
MNIST images, SGD lr 0.01, batch 100, 201 epochs: plain, with weight decay
(lambda 0.1) and with dropout (ratio 0.2). The book's result: the plain network
reaches 100% training accuracy while test accuracy stays far below (overfitting);
weight decay and dropout both narrow the gap between train and test accuracy.
(The book runs the dropout network for 301 epochs; here all three run 201, so
the curves compare.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.app.experiments import common
from scratchdl.models import MultiLayerNetExtend

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUMMARY = "plain vs weight decay 0.1 vs dropout 0.2 on 300 images, 201 epochs (book 6.4.1-6.4.3)"

REGIMES = {
    "plain": {},
    "weight decay 0.1": {"weight_decay_lambda": 0.1},
    "dropout 0.2": {"use_dropout": True, "dropout_ration": 0.2},
}
"""Label -> MultiLayerNetExtend arguments that differ from the plain network."""


@dataclass(frozen=True)
class Size:
    train_size: int = 300
    epochs: int = 201
    test_size: int | None = None
    batch_size: int = 100
    lr: float = 0.01
    hidden: tuple[int, ...] = (100,) * 6

    def __str__(self) -> str:
        test = f"first {self.test_size}" if self.test_size else "all 10,000"
        return (f"MultiLayerNetExtend {common.layer_sizes(self.hidden)} ReLU, He, "
                f"float32; first {self.train_size} train images, {test} test images; "
                f"SGD lr {self.lr:g}, batch {self.batch_size}, {self.epochs} epochs; "
                "same draws and batches for all")


FULL = Size()
QUICK = Size(epochs=100, test_size=1000)
"""A few seconds, and still the book's result (tests/test_experiment_lessons.py)."""


@dataclass
class Regimes:
    """One run per regime, with train and test accuracy after every epoch."""

    runs: dict[str, common.Run]

    def table(self) -> str:
        """Final train and test accuracy and the gap between them."""
        rows = [[label, r.train_acc, r.test_acc, r.train_acc - r.test_acc]
                for label, r in self.runs.items()]
        return common.format_table(["regime", "train acc", "test acc", "gap"], rows)

    def plot(self, path: str | os.PathLike | None = None) -> Figure:
        """The figure (returned; written as a PNG to `path` when given)."""
        from scratchdl.app.plots import plot_accuracy_grid

        panels = {label: {"train": (np.arange(len(r.history.train_acc)), r.history.train_acc),
                          "test": (np.arange(len(r.history.test_acc)), r.history.test_acc)}
                  for label, r in self.runs.items()}
        return plot_accuracy_grid(panels, path, ncols=len(panels),
                                  title="overfitting: train vs test accuracy")


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: common.Log = common.quiet) -> Regimes:
    """Train the network under each regime."""
    rng = np.random.default_rng(seed)
    data = common.load_data(size.train_size, size.test_size, data_dir, dataset)

    def builder(extra: dict):
        def build(init: np.random.Generator) -> MultiLayerNetExtend:
            return MultiLayerNetExtend(data.x_train.shape[1], list(size.hidden), 10,
                                       rng=init, dtype=np.float32, **extra)
        return build

    settings = {label: (builder(extra), {}) for label, extra in REGIMES.items()}
    return Regimes(common.compare(settings, data, rng, log, epochs=size.epochs,
                           mini_batch_size=size.batch_size, optimizer="sgd",
                           optimizer_param={"lr": size.lr}))
