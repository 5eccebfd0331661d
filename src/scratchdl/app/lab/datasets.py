"""The data the lab's runs train on: each data set loaded once (per dtype), shared by every
run, never written to."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache

import numpy as np

from scratchdl.app.lab.config import IMAGE_SETS
from scratchdl.data import TOY_SETS, load_mnist


class DataSets:
    """Loads a data set on a run's first use of it; `data_dir` is searched first, as
    `scratchdl train --data-dir` does."""

    def __init__(self, data_dir: str | None = None) -> None:
        self.data_dir = data_dir
        self.lock = threading.Lock()
        self.loaded: dict[tuple[str, str], tuple[np.ndarray, ...]] = {}

    def arrays(self, name: str, dtype: str) -> tuple[np.ndarray, ...]:
        """(x_train, t_train, x_test, t_test) of data set `name`, images in `dtype`: (N, 784)
        in [0, 1], or points (N, 2); labels (N,)."""
        with self.lock:
            if (name, dtype) not in self.loaded:
                if name in IMAGE_SETS:
                    (x, t), (x_test, t_test) = load_mnist(dataset=name, data_dir=self.data_dir,
                                                          progress=False)
                else:
                    (x, t), (x_test, t_test) = TOY_SETS[name](True), TOY_SETS[name](False)
                self.loaded[name, dtype] = (x.astype(dtype, copy=False), t,
                                            x_test.astype(dtype, copy=False), t_test)
            return self.loaded[name, dtype]

    def for_run(self, recipe: Mapping) -> tuple[np.ndarray, ...]:
        """A recipe's data: the first `train_size` training samples, and the whole test set."""
        x, t, x_test, t_test = self.arrays(recipe["dataset"], recipe["dtype"])
        n = recipe["train_size"]
        return x[:n], t[:n], x_test, t_test


@cache
def toy_points(name: str) -> dict:
    """A toy set's points as JSON: x and t of the training set, x_test and t_test."""
    (x, t), (x_test, t_test) = TOY_SETS[name](True), TOY_SETS[name](False)
    return {"x": x.tolist(), "t": t.tolist(), "x_test": x_test.tolist(), "t_test": t_test.tolist()}
