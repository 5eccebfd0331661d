"""Figures: every matplotlib call of the project lives here.

Figures are built with `matplotlib.figure.Figure` and rendered by the Agg canvas,
never through pyplot, so plotting works headless (servers, CI) and never
changes the backend of a user's session. Every PNG is written with
`atomic_path`: a crash never leaves a half-written figure under its name.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from scratchdl.atomic import atomic_path
from scratchdl.errors import ScratchdlError

if TYPE_CHECKING:
    from scratchdl.train import History

MARKERS = ["o", "x", "s", "D", "^", "v"]
"""One marker per curve when several share an axis, as in the book's figures."""


def smooth_curve(x: Sequence[float]) -> np.ndarray:
    """The book's `smooth_curve`: a Kaiser-window moving average (window 11).

    Used to read loss curves through mini-batch noise. Returns an array as long
    as x (x itself when it is shorter than the window).
    """
    x = np.asarray(x, dtype=float)
    window_len = 11
    if len(x) < window_len:
        return x
    s = np.r_[x[window_len - 1 : 0 : -1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5 : len(y) - 5]


def save_figure(fig: Figure, path: str | os.PathLike) -> None:
    """Render `fig` to a PNG at `path`, atomically."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    except OSError as e:
        raise ScratchdlError(f"cannot write {path}: {e.strerror or e}") from None


def plot_history(history: History, path: str | os.PathLike, title: str = "") -> None:
    """Training curves: loss per iteration (raw and smoothed), accuracy per evaluation.

    Left: `history.train_loss` against the iteration. Right: `train_acc` and
    `test_acc` against `eval_iters` (skipped when nothing was evaluated).
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    iters = np.arange(1, len(history.train_loss) + 1)
    ax_loss.plot(iters, history.train_loss, color="0.8", lw=0.6, label="loss")
    ax_loss.plot(iters, smooth_curve(history.train_loss), lw=1.5, label="smoothed")
    ax_loss.set(xlabel="iterations", ylabel="loss", title="training loss")
    ax_loss.legend()
    if history.eval_iters:
        ax_acc.plot(history.eval_iters, history.train_acc, marker="o", markevery=_every(
            history.eval_iters), label="train")
        ax_acc.plot(history.eval_iters, history.test_acc, marker="s", ls="--", markevery=_every(
            history.eval_iters), label="test")
        ax_acc.legend(loc="lower right")
    ax_acc.set(xlabel="iterations", ylabel="accuracy", ylim=(0, 1.03), title="accuracy")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def _every(points: Sequence) -> int:
    """Marker spacing: about ten markers per curve."""
    return max(len(points) // 10, 1)


def plot_loss_curves(curves: dict[str, Sequence[float]], path: str | os.PathLike,
                     title: str = "", ylim: tuple[float, float] | None = None) -> None:
    """Smoothed training loss per iteration, one curve per label (optimizers, inits).

    As the book's `optimizer_compare_mnist.py` and `weight_init_compare.py` draw them.
    """
    fig = Figure(figsize=(7, 4.8), layout="constrained")
    ax = fig.subplots()
    for (label, loss), marker in zip(curves.items(), itertools.cycle(MARKERS)):
        iters = np.arange(1, len(loss) + 1)
        ax.plot(iters, smooth_curve(loss), marker=marker, markevery=max(len(loss) // 20, 1),
                label=label)
    ax.set(xlabel="iterations", ylabel="loss", title=title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend()
    save_figure(fig, path)


def plot_activation_histograms(activations: dict[str, Sequence[np.ndarray]],
                               path: str | os.PathLike, title: str = "") -> None:
    """A grid of histograms: one row per setting, one column per layer.

    activations: setting label -> each layer's activations, any shape. Values are
    binned in 30 bins over [0, 1] as in the book's figures. Where most values sit
    in the first bin (ReLU's zeros) the y-axis is cut above the other bins, so
    their shape stays visible; the cut bar is labelled with its share.
    """
    rows = len(activations)
    cols = max(len(layers) for layers in activations.values())
    fig = Figure(figsize=(2.3 * cols, 1.9 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    edges = np.linspace(0, 1, 31)
    for r, (label, layers) in enumerate(activations.items()):
        for c, a in enumerate(layers):
            ax = axes[r, c]
            values = np.asarray(a).ravel()
            counts, _ = np.histogram(values, bins=edges)
            ax.bar(edges[:-1], counts, width=edges[1] - edges[0], align="edge")
            rest = counts[1:].max()
            if rest > 0 and counts[0] > 3 * rest:
                ax.set_ylim(0, 1.3 * rest)
                ax.text(0.04, 1.2 * rest, f"{counts[0] / values.size:.0%} in [0, 1/30)",
                        fontsize=7, va="top")
            ax.set_yticks([])
            ax.set_title(f"{c + 1}-layer", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def plot_accuracy_grid(panels: dict[str, dict[str, tuple[Sequence[float], Sequence[float]]]],
                       path: str | os.PathLike, title: str = "", xlabel: str = "epochs",
                       ncols: int = 4) -> None:
    """A grid of accuracy plots: one panel per title, several curves per panel.

    panels: panel title -> {curve label: (x, accuracy)}. Within a panel the first
    curve is solid and the others dashed, so the book's pairs (BatchNorm vs not,
    validation vs train) read the same way in every panel.
    """
    n = len(panels)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (panel, curves) in zip(axes[:n], panels.items(), strict=True):
        for k, (label, (x, acc)) in enumerate(curves.items()):
            ax.plot(x, acc, ls="-" if k == 0 else "--", lw=1.3, label=label)
        ax.set_title(panel, fontsize=9)
        ax.set_ylim(0, 1.03)
        ax.tick_params(labelsize=8)
    for ax in axes[n:]:
        ax.set_axis_off()
    for ax in axes[(nrows - 1) * ncols : n]:
        ax.set_xlabel(xlabel, fontsize=9)
    for ax in axes[:n:ncols]:
        ax.set_ylabel("accuracy", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def plot_image_grid(images: np.ndarray, path: str | os.PathLike, titles: Sequence[str] = (),
                    title: str = "", columns: int = 10) -> None:
    """A grid of grayscale images (K, H, W), each scaled to its own range, like the
    book's filter figures (7-24) and misclassified digits (8-4); optional per-image titles."""
    k = len(images)
    columns = max(1, min(columns, k))
    rows = max(1, math.ceil(k / columns))
    fig = Figure(figsize=(columns * 1.1, rows * (1.3 if titles else 1.1) + 0.4),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= k:
            continue
        ax.imshow(images[i], cmap="gray_r" if titles else "gray", interpolation="nearest")
        if titles:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
