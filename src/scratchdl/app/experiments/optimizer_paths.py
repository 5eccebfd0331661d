"""Optimizer paths on a stretched bowl (chapter 6.1; the book's `optimizer_compare_naive.py`).

f(x, y) = x^2 / 20 + y^2 has its minimum at (0, 0) but is 20 times steeper in y
than in x. SGD (lr 0.95), Momentum (lr 0.1), AdaGrad (lr 1.5) and Adam (lr 0.3)
each take 30 steps from (-7, 2) with the exact gradient (x / 10, 2y), through
`scratchdl.optim`. The book's result: SGD zigzags in y while it crawls along x;
Momentum rolls like a ball, overshooting; AdaGrad damps the steep y direction at
once and moves straight in; Adam rolls like Momentum with less sway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.app.experiments.common import Log, format_table, quiet
from scratchdl.optim import get_optimizer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUMMARY = "SGD, Momentum, AdaGrad, Adam paths on x^2/20 + y^2 from (-7, 2) (book 6.1.7)"

OPTIMIZERS = {"SGD": ("sgd", 0.95), "Momentum": ("momentum", 0.1),
              "AdaGrad": ("adagrad", 1.5), "Adam": ("adam", 0.3)}
"""Label -> (optimizer name, learning rate), as in the book."""

INIT_POS = (-7.0, 2.0)


def f(x, y):
    """The book's function: x^2 / 20 + y^2."""
    return x**2 / 20.0 + y**2


def df(x, y):
    """Its gradient: (x / 10, 2y)."""
    return x / 10.0, 2.0 * y


@dataclass(frozen=True)
class Size:
    steps: int = 30

    def __str__(self) -> str:
        lrs = ", ".join(f"{label} lr {lr:g}" for label, (_, lr) in OPTIMIZERS.items())
        return (f"f(x, y) = x^2/20 + y^2 from {INIT_POS}, {self.steps} steps of each "
                f"optimizer with the exact gradient; {lrs}")


FULL = Size()
QUICK = FULL  # 120 updates of two numbers: the full size runs in milliseconds


def descend(name: str, lr: float, steps: int) -> np.ndarray:
    """The positions (steps + 1, 2): the start, then after each update."""
    optimizer = get_optimizer(name, lr=lr)
    params = {"x": np.array([INIT_POS[0]]), "y": np.array([INIT_POS[1]])}
    path = [(params["x"][0], params["y"][0])]
    for _ in range(steps):
        gx, gy = df(params["x"], params["y"])
        optimizer.update(params, {"x": gx, "y": gy})
        path.append((params["x"][0], params["y"][0]))
    return np.array(path)


@dataclass
class Paths:
    """Each optimizer's path, start to end."""

    paths: dict[str, np.ndarray]

    def table(self) -> str:
        """Where each optimizer ends, f there, and how far from the minimum."""
        rows = []
        for label, xy in self.paths.items():
            x, y = xy[-1]
            rows.append([label, f"{OPTIMIZERS[label][1]:g}", float(x), float(y),
                         float(f(x, y)), float(np.hypot(x, y))])
        return format_table(["optimizer", "lr", "end x", "end y", "f(x, y)",
                             "distance to (0, 0)"], rows)

    def plot(self, path: str | os.PathLike | None = None) -> Figure:
        """The figure (returned; written as a PNG to `path` when given)."""
        from scratchdl.app.plots import plot_optimizer_paths

        return plot_optimizer_paths(self.paths, f, path)


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: Log = quiet) -> Paths:
    """Run every optimizer from the same start. Nothing is random and no data is read:
    seed, data_dir and dataset are accepted for a uniform interface."""
    return Paths({label: descend(name, lr, size.steps)
                  for label, (name, lr) in OPTIMIZERS.items()})
