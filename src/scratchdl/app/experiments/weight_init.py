"""Weight initialization on MNIST (chapter 6.2.4; the book's `weight_init_compare.py`).

The same 5-layer ReLU network as the optimizer comparison, trained with SGD
(lr 0.01) from three initial scales: std 0.01, Xavier (sqrt(1/n)) and He
(sqrt(2/n)). The book's result: with std 0.01 the network does not learn at
all (the signal vanishes through the layers); He learns fastest, Xavier next.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from scratchdl.app.experiments.common import (
    CurveSize,
    Log,
    LossCurves,
    compare,
    load_data,
    quiet,
)
from scratchdl.models import MultiLayerNet

SUMMARY = "std 0.01 vs Xavier vs He initialization on a 5-layer ReLU net (book 6.2.4)"

INITS = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"}
"""Label -> weight_init_std, in the book's spelling ('sigmoid' is Xavier, 'relu' is He)."""


@dataclass(frozen=True)
class Size(CurveSize):
    lr: float = 0.01

    def __str__(self) -> str:
        return (f"MultiLayerNet {self.net} ReLU, float32; "
                f"SGD lr {self.lr:g}, {self.iters} iterations, batch {self.batch_size}, "
                f"{self.data}; same draws (scaled) and batches for all")


FULL = Size(iters=2000)
QUICK = Size(iters=300, train_size=10000, test_size=2000)
"""A few seconds, and still the book's result (tests/test_experiment_lessons.py)."""


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: Log = quiet) -> LossCurves:
    """Train the network once per initial scale; the result tabulates and plots the losses."""
    rng = np.random.default_rng(seed)
    data = load_data(size.train_size, size.test_size, data_dir, dataset)

    def builder(std: float | str):
        def build(init: np.random.Generator) -> MultiLayerNet:
            return MultiLayerNet(data.x_train.shape[1], list(size.hidden), 10,
                                 weight_init_std=std, rng=init, dtype=np.float32)
        return build

    settings = {label: (builder(std), {}) for label, std in INITS.items()}
    runs = compare(settings, data, rng, log, iters=size.iters,
                   mini_batch_size=size.batch_size, optimizer="sgd",
                   optimizer_param={"lr": size.lr}, eval_every=size.iters,
                   evaluate_sample_num_per_epoch=100)
    return LossCurves(runs, title=f"weight init on {dataset} (smoothed training loss)",
                      ylim=(0, 2.5))
