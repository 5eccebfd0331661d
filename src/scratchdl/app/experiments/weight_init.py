"""Weight initialization on MNIST (chapter 6.2.4; the book's `weight_init_compare.py`).

The same 5-layer ReLU network as the optimizer comparison, trained with SGD
(lr 0.01) from three initial scales: std 0.01, Xavier (sqrt(1/n)) and He
(sqrt(2/n)). The book's result: with std 0.01 the network does not learn at
all (the signal vanishes through the layers); He learns fastest, Xavier next.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from scratchdl.app.experiments import common

SUMMARY = "std 0.01 vs Xavier vs He initialization on a 5-layer ReLU net (book 6.2.4)"

INITS = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"}
"""Label -> weight_init_std, in the book's spelling ('sigmoid' is Xavier, 'relu' is He)."""


@dataclass(frozen=True)
class Size(common.CurveSize):
    lr: float = 0.01

    def __str__(self) -> str:
        return (f"MultiLayerNet {self.net} ReLU, float32; "
                f"SGD lr {self.lr:g}, {self.iters} iterations, batch {self.batch_size}, "
                f"{self.data}; same draws (scaled) and batches for all")


FULL = Size()
QUICK = Size(**common.QUICK_CURVES)


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: common.Log = common.quiet) -> common.LossCurves:
    """Train the network once per initial scale; the result tabulates and plots the losses."""
    settings = {label: ({"weight_init_std": std},
                        {"optimizer": "sgd", "optimizer_param": {"lr": size.lr}})
                for label, std in INITS.items()}
    return common.compare_curves(size, settings, "weight init", (0, 2.5), seed=seed,
                          data_dir=data_dir, dataset=dataset, log=log)
