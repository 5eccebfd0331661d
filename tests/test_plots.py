"""Figures: every plot function writes a real PNG, headless, atomically."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scratchdl.app.plots import (
    plot_accuracy_grid,
    plot_activation_histograms,
    plot_history,
    plot_loss_curves,
    smooth_curve,
)
from scratchdl.train import History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SRC = Path(__file__).resolve().parents[1] / "src"


def assert_png(path: Path, min_size: tuple[int, int] = (300, 200)) -> None:
    """A complete PNG that PIL opens, at least min_size pixels, no temp file beside it."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        assert im.size[0] <= 5000 and im.size[1] <= 5000
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def a_history(iters: int = 300, every: int = 50) -> History:
    rng = np.random.default_rng(0)
    loss = list(2.3 * np.exp(-np.arange(iters) / 100) + 0.1 * rng.random(iters))
    evals = list(range(every, iters + 1, every))
    acc = [1 - 0.9 * np.exp(-i / 100) for i in evals]
    return History(train_loss=loss, train_acc=acc, test_acc=[a - 0.02 for a in acc],
                   eval_iters=evals)


def test_plot_history_writes_png(tmp_path):
    path = tmp_path / "curves.png"
    plot_history(a_history(), path, title="TwoLayerNet 784-50-10 sigmoid")
    assert_png(path)


def test_plot_history_without_evaluations(tmp_path):
    path = tmp_path / "sub" / "curves.png"
    plot_history(History(train_loss=[2.3, 2.2, 2.0]), path)
    assert_png(path)


def test_plot_history_replaces_existing_file(tmp_path):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    plot_history(a_history(), path)
    assert_png(path)


def test_smooth_curve_is_the_books():
    x = np.random.default_rng(1).random(200)
    y = smooth_curve(x)
    assert y.shape == x.shape
    assert np.allclose(smooth_curve(np.full(50, 3.0)), 3.0)
    assert y.std() < x.std()
    assert np.array_equal(smooth_curve([1.0, 2.0]), [1.0, 2.0])


def test_loss_curves(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "loss.png"
    plot_loss_curves({k: list(rng.random(100)) for k in ("SGD", "Adam")}, path,
                     title="t", ylim=(0, 1))
    assert_png(path)


def test_activation_histograms(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "hist.png"
    layers = [rng.random((100, 10)) for _ in range(3)]
    zeros = [np.maximum(rng.standard_normal((100, 10)), 0) for _ in range(3)]
    plot_activation_histograms({"sigmoid": layers, "relu": zeros}, path, title="t")
    assert_png(path)


def test_accuracy_grid_with_empty_cells(tmp_path):
    path = tmp_path / "grid.png"
    x = np.arange(10)
    panels = {f"W: {k}": {"a": (x, x / 10), "b": (x, x / 20)} for k in range(5)}
    plot_accuracy_grid(panels, path, title="t", ncols=4)
    assert_png(path)


def test_headless_without_pyplot(tmp_path):
    """No display, no MPLBACKEND: plotting works and never imports pyplot."""
    path = tmp_path / "h.png"
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    env["PYTHONPATH"] = str(SRC)
    code = ("import sys; from scratchdl.app.plots import plot_history; "
            "from scratchdl.train import History; "
            f"plot_history(History(train_loss=[2.0, 1.0]), {str(path)!r}); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert_png(path)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import matplotlib.figure

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    path = tmp_path / "curves.png"
    with pytest.raises(RuntimeError):
        plot_history(a_history(), path)
    assert list(tmp_path.iterdir()) == []
