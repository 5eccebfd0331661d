"""Shared fixtures: the real data in ../shared/data, and a private cache per test session."""

from __future__ import annotations

import os
from pathlib import Path

# One BLAS thread: the tests' matrices are small, and on a busy 2-core machine
# a second BLAS thread makes them slower, not faster. Set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    os.environ.setdefault("SCRATCHDL_DATA", str(SHARED_DATA))
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Keep each test session's fast cache out of the user's cache folder."""
    os.environ["SCRATCHDL_CACHE"] = str(tmp_path_factory.mktemp("cache"))


def real_data_dir(name: str) -> Path:
    """The real data set folder; fails in CI and skips elsewhere when it is missing."""
    path = Path(os.environ["SCRATCHDL_DATA"]) / name
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real data missing in CI: {path}")
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST: ((x_train, t_train), (x_test, t_test)), normalized, flattened."""
    real_data_dir("mnist")
    from scratchdl.data import load_mnist

    return load_mnist(normalize=True, flatten=True)


@pytest.fixture(scope="session")
def book_weights() -> Path:
    """The folder of the book's published parameter pickles."""
    return real_data_dir("book-weights")


@pytest.fixture(scope="session")
def mnist_nchw():
    """Real MNIST as images: x (N, 1, 28, 28) float32 in [0, 1], t labels (N,)."""
    real_data_dir("mnist")
    from scratchdl.data import load_mnist

    return load_mnist(normalize=True, flatten=False)


@pytest.fixture(params=[0, 10**9], ids=["rows", "exact-columns"])
def columns(request, monkeypatch):
    """Run a convolution test with stride-1 whole-row columns forced on, then off."""
    from scratchdl.layers import convolution

    monkeypatch.setattr(convolution, "ROWS_MIN_K", request.param)
