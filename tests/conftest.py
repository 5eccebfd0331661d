"""Shared fixtures: the real data, found as a user's would be, and a private cache.

The tests read the real MNIST and Fashion-MNIST the way the package finds data for a
user: `SCRATCHDL_DATA` if set, else `../shared/data` beside the repository if it is
there, else the user cache, else a download into the user cache (verified, as
`scratchdl train` does). Only when none of these can supply a data set do its tests
skip, naming what is missing and the command that fixes it; under CI (`CI=true`)
that skip is a failure, so real-data tests can never silently stop running there.

Tests marked `xp` run once per array module named by `--xp` (default `numpy,strict`):
NumPy, the strict stand-in for CuPy (`strict_xp.py`), or the real CuPy on a GPU
(`pytest --xp cupy -m xp`). The package computes with that module throughout the
test; inputs go to it through `scratchdl.runtime.backend.asarray`, results come back
through `to_numpy`, as in the package.
"""

from __future__ import annotations

import os
from pathlib import Path

# One BLAS thread: the tests' matrices are small, and on a busy 2-core machine
# a second BLAS thread makes them slower, not faster. Set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402

import pytest  # noqa: E402
import strict_xp  # noqa: E402

from scratchdl.data.locations import cache_root  # noqa: E402
from scratchdl.runtime import backend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
USER_CACHE = cache_root()
"""The user's cache, read before `private_cache` points SCRATCHDL_CACHE elsewhere."""

_unavailable: dict[str, str] = {}
"""Data sets that could be neither found nor downloaded this session, and why."""


XP_MODULES = ("numpy", "strict", "cupy")
"""What `--xp` takes: the array modules the tests marked `xp` run on."""


def pytest_addoption(parser):
    parser.addoption("--xp", default="numpy,strict", metavar="MODULES",
                     help="array modules the tests marked xp run on, comma-separated: numpy, "
                     "strict (the stand-in for CuPy, tests/strict_xp.py), cupy (a real GPU); "
                     "default numpy,strict")


def pytest_configure(config):
    config.addinivalue_line("markers", "xp: run once per array module of --xp")
    bad = set(config.getoption("--xp").split(",")) - set(XP_MODULES)
    if bad:
        raise pytest.UsageError(f"--xp takes {', '.join(XP_MODULES)}; got {', '.join(bad)}")
    if not os.environ.get("SCRATCHDL_DATA") and SHARED_DATA.is_dir():
        os.environ["SCRATCHDL_DATA"] = str(SHARED_DATA)
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("xp"):
        metafunc.parametrize("xp_module", metafunc.config.getoption("--xp").split(","),
                             indirect=True)


@pytest.fixture(autouse=True)
def xp_module(request):
    """The array module a test marked `xp` runs on (None for the others: NumPy)."""
    name = getattr(request, "param", None)
    if name == "strict":
        backend.use_module(strict_xp)
    elif name == "cupy":
        backend.use_gpu()
    try:
        yield name
    finally:
        backend.use_cpu()


@pytest.fixture
def fake_gpu(monkeypatch):
    """`--device gpu` on the strict stand-in: it answers `import cupy` in this test."""
    monkeypatch.setitem(sys.modules, "cupy", strict_xp)
    monkeypatch.setattr(strict_xp, "DEVICES", 1)
    yield strict_xp
    backend.use_cpu()


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Keep each test session's fast cache out of the user's cache folder."""
    os.environ["SCRATCHDL_CACHE"] = str(tmp_path_factory.mktemp("cache"))


def missing(what: str, fix: str) -> None:
    """Skip a test for lack of real data, saying what and how to fix it; fail in CI."""
    message = f"{what}; {fix}"
    if os.environ.get("CI"):
        pytest.fail(f"real data missing in CI: {message}")
    pytest.skip(message)


def real_data_dir(name: str) -> Path:
    """The folder of real data set `name` (mnist, fashion-mnist or book-weights)."""
    from scratchdl.data import download_dataset
    from scratchdl.runtime.errors import DataError

    root = os.environ.get("SCRATCHDL_DATA")
    if root and (Path(root) / name).is_dir():
        return Path(root) / name
    if name == "book-weights" and root and Path(root) != USER_CACHE:
        missing(f"the book's published weights are not in {root}/{name}",
                "put ch03_sample_weight.pkl, ch07_simple_convnet_params.pkl and "
                "ch08_deep_convnet_params.pkl from the book's repository "
                "(oreilly-japan/deep-learning-from-scratch) there, or unset SCRATCHDL_DATA")
    if name == "book-weights":
        return book_weights_in_user_cache()
    if root and Path(root) != USER_CACHE:
        missing(f"real {name} is not in SCRATCHDL_DATA={root}",
                f"put {name}/ there, or unset SCRATCHDL_DATA and run "
                f"`scratchdl data download --dataset {name}`")
    if name not in _unavailable:  # the user cache, or a download into it (kept files stay)
        try:
            download_dataset(name, USER_CACHE / name, progress=False)
        except DataError as e:
            _unavailable[name] = str(e).split(". Fix:")[0]
        else:
            os.environ["SCRATCHDL_DATA"] = str(USER_CACHE)
            return USER_CACHE / name
    missing(f"real {name} not found: {_unavailable[name]}",
            f"run `scratchdl data download --dataset {name}`")
    raise AssertionError("unreachable")


def book_weights_in_user_cache() -> Path:
    """The user cache's book-weights/, its missing files downloaded (verified) as
    `scratchdl data book-weights` does."""
    from scratchdl.data import BOOK_WEIGHTS
    from scratchdl.data.book_weights import FOLDER, download_book_weights
    from scratchdl.runtime.errors import DataError

    folder = USER_CACHE / FOLDER
    if FOLDER not in _unavailable:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for file, w in BOOK_WEIGHTS.items():
                if not (folder / file).is_file():
                    download_book_weights(w, folder / file, progress=False)
        except (DataError, OSError) as e:
            _unavailable[FOLDER] = str(e).split(". Fix:")[0]
        else:
            return folder
    missing(f"the book's published weights not found: {_unavailable[FOLDER]}",
            "run `scratchdl data book-weights`")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder of the real MNIST files (the four .gz as the mirrors serve them)."""
    return real_data_dir("mnist")


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
def columns(request) -> int:
    """A FastConvolution's `rows_min_k` that forces stride-1 whole-row columns on, then off."""
    return request.param
