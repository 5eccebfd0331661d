"""Activation distributions by initial scale (chapter 6.2.2-6.2.3; the book's
`weight_init_activation_histogram.py`).

1000 random inputs (standard normal, 100 features) pass through 5 layers of 100
units with no bias, each weight matrix drawn as scale * N(0, 1). No training: the
experiment shows why the initial scale matters. The book's result, by row:
sigmoid with std 1 saturates at 0 and 1 (vanishing gradients); sigmoid with
std 0.01 collapses to 0.5 (every unit the same: no expressive power); Xavier keeps
sigmoid spread out in every layer; for ReLU, std 0.01 shrinks the activations
towards 0 layer by layer, Xavier slowly too, and He keeps them the same in
every layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.app.experiments.common import Log, format_table, quiet
from scratchdl.functions import relu, sigmoid
from scratchdl.models.base import weight_scale
from scratchdl.runtime.backend import asarray, to_numpy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUMMARY = "activations of 5 layers for sigmoid/ReLU by init scale (book 6.2.2-6.2.3)"

SETTINGS = {
    "sigmoid, std 1": ("sigmoid", 1.0),
    "sigmoid, std 0.01": ("sigmoid", 0.01),
    "sigmoid, Xavier": ("sigmoid", "xavier"),
    "ReLU, std 0.01": ("relu", 0.01),
    "ReLU, Xavier": ("relu", "xavier"),
    "ReLU, He": ("relu", "he"),
}
"""Row label -> (activation, weight_init_std as `models.base.weight_scale` reads it)."""

ACTIVATIONS = {"sigmoid": sigmoid, "relu": relu}


@dataclass(frozen=True)
class Size:
    samples: int = 1000
    node_num: int = 100
    hidden_layer_size: int = 5

    def __str__(self) -> str:
        return (f"{self.samples} inputs ~ N(0, 1) through {self.hidden_layer_size} layers of "
                f"{self.node_num} units, weights scale * N(0, 1), no bias; the same draws "
                "for every setting")


FULL = Size()
QUICK = Size(samples=200)


def forward(x: np.ndarray, weights: list[np.ndarray], activation: str,
            std: float | str) -> list[np.ndarray]:
    """Each layer's activations: z = activation(z_prev @ (scale * W)), z_0 = x.

    x: (N, node_num); weights: unscaled N(0, 1) draws, (node_num, node_num) each.
    Computed on the active device; the activations come back to the host.
    """
    f = ACTIVATIONS[activation]
    z, out = asarray(x), []
    for W in weights:
        z = f(z @ (weight_scale(std, W.shape[0]) * asarray(W)))
        out.append(to_numpy(z))
    return out


@dataclass
class Histograms:
    """Each setting's activations, layer by layer."""

    activations: dict[str, list[np.ndarray]]

    def table(self) -> str:
        """Per layer: mean, std, and the fractions below 0.01 and above 0.99."""
        rows = []
        for label, layers in self.activations.items():
            for k, z in enumerate(layers, start=1):
                rows.append([label if k == 1 else "", k, float(z.mean()), float(z.std()),
                             float((z < 0.01).mean()), float((z > 0.99).mean())])
        return format_table(["setting", "layer", "mean", "std", "<0.01", ">0.99"], rows)

    def plot(self, path: str | os.PathLike | None = None) -> Figure:
        """The figure (returned; written as a PNG to `path` when given)."""
        from scratchdl.app.plots import plot_activation_histograms

        return plot_activation_histograms(self.activations, path,
                                          title="activations per layer (30 bins over [0, 1])")


def run(size: Size = FULL, *, seed: int = 0, data_dir: str | os.PathLike | None = None,
        dataset: str = "mnist", log: Log = quiet) -> Histograms:
    """Draw the inputs and weights once, then forward them under every setting.

    data_dir and dataset are accepted for a uniform interface; no data is read.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((size.samples, size.node_num))
    weights = [rng.standard_normal((size.node_num, size.node_num))
               for _ in range(size.hidden_layer_size)]
    return Histograms({label: forward(x, weights, activation, std)
                       for label, (activation, std) in SETTINGS.items()})
