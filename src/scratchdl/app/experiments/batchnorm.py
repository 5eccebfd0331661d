"""Batch normalization across initial scales (chapter 6.3.2; the book's `batch_norm_test.py`).

A 6-layer ReLU network (MultiLayerNetExtend 784-100x5-10) trained with and
without batch normalization on the first 1000 MNIST images, SGD lr 0.01, batch
100, 20 epochs, for 16 weight scales logspace(0, -4, 16). The book's result:
with batch normalization the network learns fast at almost every scale; without
it, it learns slower, and not at all when the scale is far from right.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.app.experiments.common import (
    Log,
    Run,
    compare,
    format_table,
    layer_sizes,
    load_data,
    quiet,
)
from scratchdl.models import MultiLayerNetExtend

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUMMARY = "with vs without batch normalization for 16 init scales (book 6.3.2)"

WITH, WITHOUT = "Batch Normalization", "Normal (without BatchNorm)"


@dataclass(frozen=True)
class Size:
    train_size: int = 1000
    epochs: int = 20
    scales: int = 16
    test_size: int | None = None
    batch_size: int = 100
    lr: float = 0.01
    hidden: tuple[int, ...] = (100, 100, 100, 100, 100)

    def weight_scales(self) -> np.ndarray:
        """The book's `np.logspace(0, -4, num=16)`: 1 down to 1e-4."""
        return np.logspace(0, -4, num=self.scales)

    def __str__(self) -> str:
        return (f"MultiLayerNetExtend {layer_sizes(self.hidden)} ReLU, float32, "
                f"with and without batch norm; first {self.train_size} train images, "
                f"SGD lr {self.lr:g}, batch {self.batch_size}, {self.epochs} epochs, "
                f"{self.scales} weight scales logspace(0, -4); same draws and batches per pair")


FULL = Size()
QUICK = Size(scales=6, test_size=1000)
"""Six scales in a few seconds: still the book's result (tests/test_experiment_lessons.py)."""


@dataclass
class ScaleSweep:
    """For each weight scale, the run with and the run without batch normalization."""

    runs: dict[float, dict[str, Run]]

    def table(self) -> str:
        """Final train accuracy (the book's curves) and test accuracy, both networks."""
        rows = [[f"{w:.3g}", r[WITH].train_acc, r[WITHOUT].train_acc, r[WITH].test_acc,
                 r[WITHOUT].test_acc] for w, r in self.runs.items()]
        return format_table(["weight scale", "train BN", "train plain", "test BN",
                             "test plain"], rows)

    def plot(self, path: str | os.PathLike | None = None) -> Figure:
        """The figure (returned; written as a PNG to `path` when given)."""
        from scratchdl.app.plots import plot_accuracy_grid

        panels = {f"W: {w:.3g}": {label: (np.arange(len(r.history.train_acc)),
                                          r.history.train_acc) for label, r in pair.items()}
                  for w, pair in self.runs.items()}
        return plot_accuracy_grid(panels, path, title="training accuracy with and without "
                                  "batch normalization, by initial weight scale")


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: Log = quiet) -> ScaleSweep:
    """Train the pair of networks at every weight scale."""
    rng = np.random.default_rng(seed)
    data = load_data(size.train_size, size.test_size, data_dir, dataset)

    def builder(scale: float, use_batchnorm: bool):
        def build(init: np.random.Generator) -> MultiLayerNetExtend:
            return MultiLayerNetExtend(data.x_train.shape[1], list(size.hidden), 10,
                                       weight_init_std=scale, use_batchnorm=use_batchnorm,
                                       rng=init, dtype=np.float32)
        return build

    runs = {}
    for k, w in enumerate(size.weight_scales(), start=1):
        log(f"weight scale {w:.3g} ({k}/{size.scales})")
        settings = {WITH: (builder(w, True), {}), WITHOUT: (builder(w, False), {})}
        runs[float(w)] = compare(settings, data, rng, log, epochs=size.epochs,
                                 mini_batch_size=size.batch_size, optimizer="sgd",
                                 optimizer_param={"lr": size.lr},
                                 evaluate_sample_num_per_epoch=size.train_size)
    return ScaleSweep(runs)
