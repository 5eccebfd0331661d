"""Optimizer comparison on MNIST (chapter 6.1.8; the book's `optimizer_compare_mnist.py`).

A 5-layer ReLU network (MultiLayerNet 784-100-100-100-100-10, He init) trained
with SGD, Momentum, AdaGrad (lr 0.01) and Adam (lr 0.001), batch 128. The book's
result: SGD is clearly the slowest; Momentum, AdaGrad and Adam drive the loss
down much faster, AdaGrad slightly ahead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from scratchdl.app.experiments.common import (
    QUICK_CURVES,
    CurveSize,
    Log,
    LossCurves,
    compare_curves,
    quiet,
)

SUMMARY = "SGD vs Momentum vs AdaGrad vs Adam on a 5-layer net (book 6.1.8)"

OPTIMIZERS = {"SGD": ("sgd", 0.01), "Momentum": ("momentum", 0.01),
              "AdaGrad": ("adagrad", 0.01), "Adam": ("adam", 0.001)}
"""Label -> (optimizer name, learning rate), as in the book."""


@dataclass(frozen=True)
class Size(CurveSize):
    def __str__(self) -> str:
        return (f"MultiLayerNet {self.net} ReLU, He init, "
                f"float32; {self.iters} iterations, batch {self.batch_size}, {self.data}; "
                "SGD/Momentum/AdaGrad lr 0.01, Adam lr 0.001; same init and batches for all")


FULL = Size()
QUICK = Size(**QUICK_CURVES)


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: Log = quiet) -> LossCurves:
    """Train the network once per optimizer; the result tabulates and plots the losses."""
    settings = {label: ({}, {"optimizer": name, "optimizer_param": {"lr": lr}})
                for label, (name, lr) in OPTIMIZERS.items()}
    return compare_curves(size, settings, "optimizers", (0, 1), seed=seed, data_dir=data_dir,
                          dataset=dataset, log=log)
