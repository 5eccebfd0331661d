"""Figures: every matplotlib call of the project lives here.

Figures are built with `matplotlib.figure.Figure` and rendered by the Agg canvas,
never through pyplot, so plotting works headless (servers, CI) and never
changes the backend of a user's session. Every plot function returns its Figure
(a notebook shows it inline) and, given a path, writes it as a PNG with
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

from scratchdl.runtime.atomic import atomic_path
from scratchdl.runtime.errors import ScratchdlError

if TYPE_CHECKING:
    from scratchdl.train import History

Out = str | os.PathLike | None
"""Where a plot function writes its PNG; None: nowhere (the Figure is returned either way)."""

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


def save_figure(fig: Figure, path: Out) -> Figure:
    """Render `fig` to a PNG at `path`, atomically (nothing when `path` is None); return fig."""
    if path is None:
        return fig
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    except OSError as e:
        raise ScratchdlError(f"cannot write {path}: {e.strerror or e}") from None
    return fig


def plot_history(history: History, path: Out = None, title: str = "") -> Figure:
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
    return save_figure(fig, path)


def _every(points: Sequence) -> int:
    """Marker spacing: about ten markers per curve."""
    return max(len(points) // 10, 1)


def plot_loss_curves(curves: dict[str, Sequence[float]], path: Out = None,
                     title: str = "", ylim: tuple[float, float] | None = None) -> Figure:
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
    return save_figure(fig, path)


def plot_activation_histograms(activations: dict[str, Sequence[np.ndarray]],
                               path: Out = None, title: str = "") -> Figure:
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
    return save_figure(fig, path)


def plot_accuracy_grid(panels: dict[str, dict[str, tuple[Sequence[float], Sequence[float]]]],
                       path: Out = None, title: str = "", xlabel: str = "epochs",
                       ncols: int = 4) -> Figure:
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
    return save_figure(fig, path)


def plot_image_grid(images: np.ndarray, path: Out = None, titles: Sequence[str] = (),
                    title: str = "", columns: int = 10) -> Figure:
    """A grid of grayscale images (K, H, W), each scaled to its own range, like the
    book's filter figures (section 7.6.1) and misclassified digits (figure 8-2); optional
    per-image titles."""
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
    return save_figure(fig, path)


def plot_functions(path: Out = None) -> Figure:
    """Chapter 3's activation functions over x in [-5, 5), as the book draws them:
    step (figure 3-6), sigmoid (3-7), step against sigmoid (3-8) and ReLU (3-9)."""
    from scratchdl.functions import relu, sigmoid, step_function

    x = np.arange(-5.0, 5.0, 0.1)
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    (ax_step, ax_sig), (ax_both, ax_relu) = fig.subplots(2, 2)
    ax_step.plot(x, step_function(x))
    ax_sig.plot(x, sigmoid(x))
    ax_both.plot(x, sigmoid(x), label="sigmoid")
    ax_both.plot(x, step_function(x), "k--", label="step function")
    ax_both.legend(loc="upper left")
    ax_relu.plot(x, relu(x))
    for ax, title in [(ax_step, "step function"), (ax_sig, "sigmoid"),
                      (ax_both, "step function and sigmoid")]:
        ax.set(title=title, xlabel="x", ylabel="y", ylim=(-0.1, 1.1))
    ax_relu.set(title="ReLU", xlabel="x", ylabel="y", ylim=(-1.0, 5.5))
    return save_figure(fig, path)


def plot_gradients(path: Out = None) -> Figure:
    """Chapter 4's figures of gradients, computed by `scratchdl.gradient`:

    the tangent of f(x) = 0.01x^2 + 0.1x at x = 5 and x = 10 (`numerical_diff`,
    figure 4-7); the field of -grad f for f(x0, x1) = x0^2 + x1^2 as arrows
    (`numerical_gradient`, figure 4-9); the path of `gradient_descent` from
    (-3, 4), lr 0.1, 20 steps, over the dashed contour lines (figure 4-10).
    """
    from scratchdl.gradient import gradient_descent, numerical_diff, numerical_gradient

    def function_1(x):
        return 0.01 * x**2 + 0.1 * x

    def function_2(x):
        return np.sum(x**2)

    fig = Figure(figsize=(10, 8.5), layout="constrained")
    (ax5, ax10), (ax_field, ax_path) = fig.subplots(2, 2)
    x = np.arange(0.0, 20.0, 0.1)
    for ax, x0 in [(ax5, 5.0), (ax10, 10.0)]:
        d = numerical_diff(function_1, x0)
        ax.plot(x, function_1(x), label="f(x) = 0.01x² + 0.1x")
        ax.plot(x, d * x + (function_1(x0) - d * x0), label=f"tangent, slope {d:.4f}")
        ax.plot([x0], [function_1(x0)], "ko", ms=4)
        ax.set(title=f"the tangent at x = {x0:g}", xlabel="x", ylabel="f(x)")
        ax.legend(loc="upper left")
    x0, x1 = np.meshgrid(np.arange(-2, 2.5, 0.25), np.arange(-2, 2.5, 0.25))
    points = np.stack([x0.ravel(), x1.ravel()], axis=1)
    grad = numerical_gradient(function_2, points)
    ax_field.quiver(points[:, 0], points[:, 1], -grad[:, 0], -grad[:, 1], angles="xy",
                    scale_units="xy", scale=14, width=0.004, color="#666666")
    ax_field.set(title="−∇f for f(x0, x1) = x0² + x1²", xlabel="x0", ylabel="x1",
                 xlim=(-2, 2), ylim=(-2, 2), aspect="equal")
    ax_field.grid()
    _, x_history = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=20,
                                    return_history=True)
    t = np.linspace(0, 2 * np.pi, 200)
    for radius in (1, 2, 3, 4, 5):
        ax_path.plot(radius * np.cos(t), radius * np.sin(t), ls=":", color="0.6", lw=0.8)
    ax_path.plot([-5, 5], [0, 0], "--b")
    ax_path.plot([0, 0], [-5, 5], "--b")
    ax_path.plot(x_history[:, 0], x_history[:, 1], "o")
    ax_path.set(title="gradient descent from (−3, 4), lr 0.1, 20 steps", xlabel="X0",
                ylabel="X1", xlim=(-3.5, 3.5), ylim=(-4.5, 4.5), aspect="equal")
    return save_figure(fig, path)


def plot_optimizer_paths(paths: dict[str, np.ndarray], f, path: Out = None) -> Figure:
    """Each optimizer's path (steps, 2) over the contour lines of f(x, y), in a 2x2 grid.

    Section 6.1.7's figure (`optimizer_compare_naive.py`): the path as red
    points joined by lines, the minimum marked with '+', f's contours drawn where
    f <= 7 (the book sets the rest to 0), x and y in [-10, 10].
    """
    X, Y = np.meshgrid(np.arange(-10, 10, 0.01), np.arange(-5, 5, 0.01))
    Z = f(X, Y)
    Z[Z > 7] = 0
    ncols = 2
    nrows = math.ceil(len(paths) / ncols)
    fig = Figure(figsize=(10, 4.6 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, (name, xy) in zip(axes, paths.items(), strict=False):
        ax.plot(xy[:, 0], xy[:, 1], "o-", color="red", ms=4)
        ax.contour(X, Y, Z)
        ax.plot(0, 0, "+")
        ax.set(title=name, xlabel="x", ylabel="y", xlim=(-10, 10), ylim=(-10, 10))
    for ax in axes[len(paths):]:
        ax.set_axis_off()
    return save_figure(fig, path)


def plot_filter_outputs(image: np.ndarray, filters: np.ndarray, outputs: np.ndarray,
                        path: Out = None, title: str = "", pairs_per_row: int = 4) -> Figure:
    """Chapter 7's `apply_filter.py`: the input image, then each filter beside its output.

    image (H, W); filters (K, FH, FW); outputs (K, OH, OW). Drawn black on white
    (gray_r) like the book's figure in section 7.6.1; each image scaled to its own range.
    """
    k = len(filters)
    rows = max(1, math.ceil(k / pairs_per_row))
    fig = Figure(figsize=(2.6 + 2.2 * pairs_per_row, 1.1 * rows + 0.8), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.2, 2.2 * pairs_per_row / 2.6])
    ax = left.subplots()
    ax.imshow(image, cmap="gray_r", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title("input", fontsize=9)
    axes = np.atleast_2d(right.subplots(rows, 2 * pairs_per_row))
    for r, c in itertools.product(range(rows), range(pairs_per_row)):
        i = r * pairs_per_row + c
        ax_filter, ax_out = axes[r, 2 * c], axes[r, 2 * c + 1]
        ax_filter.set_axis_off()
        ax_out.set_axis_off()
        if i >= k:
            continue
        ax_filter.imshow(filters[i], cmap="gray_r", interpolation="nearest")
        ax_out.imshow(outputs[i], cmap="gray_r", interpolation="nearest")
        if r == 0:
            ax_filter.set_title("filter", fontsize=8)
            ax_out.set_title("output", fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
