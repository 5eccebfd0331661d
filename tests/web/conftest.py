"""Fixtures for `scratchdl serve`: a model file, real MNIST test digits as PNG, a server.

The model is the book's SimpleConvNet with its published weights (test accuracy
0.9890, the book's figure, checked in test_convnets.py). The server is the real
command, `python -m scratchdl serve MODEL --port 0`, in a child process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serving import BOOK_ACCURACY, png, start_server, stop_server


@pytest.fixture(scope="session")
def served_model(tmp_path_factory, book_weights) -> Path:
    """A model file of the book's SimpleConvNet weights, as `import-book` would write it."""
    from scratchdl.io import load_book_params, save_model
    from scratchdl.models import SimpleConvNet

    net = load_book_params(SimpleConvNet(), book_weights / "ch07_simple_convnet_params.pkl")
    path = tmp_path_factory.mktemp("served") / "simple-conv.npz"
    save_model(net, path, metrics={"test_acc": BOOK_ACCURACY})
    return path


@pytest.fixture(scope="session")
def digits(mnist_nchw) -> list[tuple[int, np.ndarray]]:
    """The first two MNIST test digits of each class: (label, uint8 28x28 as in the files)."""
    x_test, t_test = mnist_nchw[1]
    chosen = [i for k in range(10) for i in np.flatnonzero(t_test == k)[:2]]
    return [(int(t_test[i]), (x_test[i, 0] * 255).round().astype(np.uint8)) for i in chosen]


@pytest.fixture(scope="session")
def digit_files(digits, tmp_path_factory) -> list[tuple[int, Path]]:
    """`digits` written as PNG files: (label, path)."""
    folder = tmp_path_factory.mktemp("digits")
    files = []
    for n, (label, a) in enumerate(digits):
        path = folder / f"{n:02d}-label-{label}.png"
        path.write_bytes(png(a))
        files.append((label, path))
    return files


@pytest.fixture(scope="session")
def server(served_model) -> str:
    """The address of a running `scratchdl serve` of `served_model`."""
    proc, url = start_server(served_model)
    yield url
    stop_server(proc)
