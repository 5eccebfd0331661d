"""What the lab's page shows of a network while it trains, computed from a copy of it.

Each view is plain JSON: numbers, and images as base64 bytes (one byte per pixel). The
copy runs in inference mode, so no view draws from the run's generator or changes its
numbers.
"""

from __future__ import annotations

import base64
import copy

import numpy as np

from scratchdl.functions import softmax
from scratchdl.layers import Relu, Sigmoid
from scratchdl.models import Net

BINS = 30
"""Bars of an activation histogram, as the book's figure 6-10."""
GRID = 64
"""Cells per side of a decision-boundary map."""
MAX_WEIGHT_IMAGES = 64
"""First-layer units shown as images, at most."""


def encode(a: np.ndarray) -> str:
    """A uint8 array's bytes as base64 text."""
    return base64.b64encode(np.ascontiguousarray(a, np.uint8).tobytes()).decode("ascii")


def activation_histograms(net: Net, x: np.ndarray) -> list[dict]:
    """Per hidden layer, the histogram of its activations on `x` (figure 6-10): 30 bars over
    (0, 1) for sigmoid, over (0, the largest activation) for ReLU, whose zeros fill the
    first bar."""
    out = []
    for layer in net.layers:
        x = layer.forward(x, False)
        if isinstance(layer, (Relu, Sigmoid)):
            a = np.asarray(x, np.float64).ravel()
            high = 1.0 if isinstance(layer, Sigmoid) else max(float(a.max()), 1e-6)
            counts, _ = np.histogram(a, BINS, range=(0.0, high))
            out.append({"layer": len(out) + 1, "range": [0.0, high], "counts": counts.tolist(),
                        "mean": float(a.mean()), "std": float(a.std())})
    return out


def gradient_norms(grads: dict) -> list[dict]:
    """The L2 norm of each weight's gradient (W1, W2, ...), layer by layer."""
    names = sorted((k for k in grads if k.startswith("W")), key=lambda k: int(k[1:]))
    return [{"name": k, "norm": float(np.linalg.norm(grads[k]))} for k in names]


def weight_images(net: Net) -> dict:
    """The first layer's weights into its first units, each as a 28x28 image (the unit's
    column of W1), scaled by its largest |w|: 0 is 127.5, -max 0, +max 255."""
    W = np.asarray(net.params["W1"][:, :MAX_WEIGHT_IMAGES], np.float64).T
    scale = np.abs(W).max(axis=1, keepdims=True)
    pixels = np.rint(127.5 + 127.5 * W / np.where(scale > 0, scale, 1.0))
    return {"count": len(W), "side": 28, "units": net.params["W1"].shape[1],
            "pixels": encode(pixels)}


def boundary_grid(bounds: list[float]) -> np.ndarray:
    """The centres of a GRID x GRID map over bounds (x0, x1, y0, y1), row by row from the
    top (largest y), as (GRID**2, 2)."""
    x0, x1, y0, y1 = bounds
    xs = x0 + (np.arange(GRID) + 0.5) * (x1 - x0) / GRID
    ys = y1 - (np.arange(GRID) + 0.5) * (y1 - y0) / GRID
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def decision_boundary(net: Net, grid: np.ndarray, bounds: list[float]) -> dict:
    """The class the network gives each cell of the map, and its probability (0-255)."""
    p = np.asarray(softmax(net.predict(grid.astype(net.dtype), train=False)), np.float64)
    return {"side": GRID, "bounds": bounds, "classes": encode(p.argmax(axis=1)),
            "confidence": encode(np.rint(255 * p.max(axis=1)))}


def bounds_of(*xs: np.ndarray) -> list[float]:
    """(x0, x1, y0, y1) around all the points, with a margin of a tenth on each side."""
    points = np.concatenate(xs)
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.1 * (high - low)
    return [float(low[0] - pad[0]), float(high[0] + pad[0]),
            float(low[1] - pad[1]), float(high[1] + pad[1])]


def views(net: Net, sample: np.ndarray, grads: dict | None, boundary: tuple | None) -> dict:
    """Every view of `net` at this point of its run: activation histograms on `sample`,
    gradient norms (`grads`: the last step's), and the first layer's weights as images
    (28x28 inputs) or, for points in the plane, the decision boundary (`boundary`: the
    grid and its bounds)."""
    net = copy.deepcopy(net)
    out: dict = {"histograms": activation_histograms(net, sample)}
    if grads is not None:
        out["gradient_norms"] = gradient_norms(grads)
    if boundary is not None:
        out["boundary"] = decision_boundary(net, *boundary)
    elif net.params["W1"].shape[0] == 28 * 28:
        out["weights"] = weight_images(net)
    return out
