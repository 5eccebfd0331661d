"""Random search for hyperparameters (chapter 6.5; the book's
`hyperparameter_optimization.py`).

The first 500 MNIST images, shuffled; 20% (100) held out as validation data,
never the test set. Each trial draws lr = 10^U(-6, -2) and weight decay
lambda = 10^U(-8, -4), trains a 7-layer ReLU network (784-100x6-10) with SGD,
batch 100, for 50 epochs, and scores the final validation accuracy. The book
runs 100 trials; so does the full size here (each trial is fast). The book's
result: the good trials share lr around 10^-3 to 10^-2; weight decay matters
much less over this range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.app.experiments.common import (
    Data,
    Log,
    Run,
    fit,
    format_table,
    layer_sizes,
    load_data,
    quiet,
)
from scratchdl.models import MultiLayerNet

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUMMARY = "random search over lr and weight decay, 100 trials as in the book (6.5.3)"


@dataclass(frozen=True)
class Size:
    trials: int = 100
    epochs: int = 50
    train_size: int = 500
    validation_rate: float = 0.2
    batch_size: int = 100
    hidden: tuple[int, ...] = (100,) * 6
    shown: int = 20

    def __str__(self) -> str:
        net = f"MultiLayerNet {layer_sizes(self.hidden)} ReLU, float32, SGD"
        return (f"{self.trials} trials: lr 10^U(-6,-2), weight decay 10^U(-8,-4); {net}, "
                f"batch {self.batch_size}, {self.epochs} epochs; first {self.train_size} "
                f"train images, {self.validation_rate:.0%} of them for validation")


FULL = Size()
QUICK = Size(trials=20, shown=5)
"""Twenty trials in a few seconds: the best still have large learning rates
(tests/test_experiment_lessons.py)."""


@dataclass
class Trial:
    lr: float
    weight_decay: float
    run: Run

    @property
    def val_acc(self) -> float:
        """The book's score: validation accuracy after the last epoch."""
        return self.run.history.test_acc[-1]


@dataclass
class Search:
    """All trials, best first."""

    trials: list[Trial]
    shown: int

    def table(self) -> str:
        rows = [[f"Best-{k}", t.val_acc, t.run.history.train_acc[-1], f"{t.lr:.3e}",
                 f"{t.weight_decay:.3e}"] for k, t in enumerate(self.trials[: self.shown], 1)]
        return format_table(["trial", "val acc", "train acc", "lr", "weight decay"], rows)

    def plot(self, path: str | os.PathLike | None = None) -> Figure:
        """The figure (returned; written as a PNG to `path` when given)."""
        from scratchdl.app.plots import plot_accuracy_grid

        panels = {}
        for k, t in enumerate(self.trials[: self.shown], start=1):
            h = t.run.history
            epochs = np.arange(len(h.test_acc))
            panels[f"Best-{k}: lr {t.lr:.1e}, decay {t.weight_decay:.0e}"] = {
                "validation": (epochs, h.test_acc), "train": (epochs, h.train_acc)}
        return plot_accuracy_grid(panels, path, ncols=5,
                                  title="random search: the best trials by validation accuracy")


def split(data: Data, validation_rate: float, rng: np.random.Generator) -> Data:
    """Shuffle the training images and hold out the first `validation_rate` as the
    'test' set of the trainer (the book's `shuffle_dataset` then slice)."""
    order = rng.permutation(len(data.x_train))
    x, t = data.x_train[order], data.t_train[order]
    n_val = int(len(x) * validation_rate)
    return Data(x[n_val:], t[n_val:], x[:n_val], t[:n_val])


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: Log = quiet) -> Search:
    """Run the trials one after another, drawing everything from one generator."""
    rng = np.random.default_rng(seed)
    data = split(load_data(size.train_size, 0, data_dir, dataset), size.validation_rate, rng)
    trials = []
    for k in range(1, size.trials + 1):
        weight_decay = 10 ** rng.uniform(-8, -4)
        lr = 10 ** rng.uniform(-6, -2)
        network = MultiLayerNet(data.x_train.shape[1], list(size.hidden), 10,
                                weight_decay_lambda=weight_decay, rng=rng, dtype=np.float32)
        trial = Trial(lr, weight_decay, fit(network, data, rng, epochs=size.epochs,
                                            mini_batch_size=size.batch_size, optimizer="sgd",
                                            optimizer_param={"lr": lr}))
        log(f"  trial {k}/{size.trials}: val acc {trial.val_acc:.4f} | lr {lr:.3e}, "
            f"weight decay {weight_decay:.3e} ({trial.run.seconds:.1f} s)")
        trials.append(trial)
    trials.sort(key=lambda t: t.val_acc, reverse=True)
    return Search(trials, size.shown)
