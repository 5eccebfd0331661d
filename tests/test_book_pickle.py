"""The book's parameter pickles: imported exactly, and safely.

`scratchdl.io.read_book_pickle` unpickles with a restricted unpickler that admits
NumPy arrays and plain containers only; any other import (the way a pickle runs
code) is refused with `ModelFileError` before anything runs.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchdl.io import load_book_params, read_book_pickle
from scratchdl.models import MultiLayerNet
from scratchdl.runtime.errors import ModelFileError


class ShellCommand:
    """Unpickling this runs `touch MARKER` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Evaluate:
    """Unpickling this evaluates Python source through builtins.eval."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


def book_net() -> MultiLayerNet:
    """The network of ch03_sample_weight.pkl: 784-50-100-10, sigmoid, float64."""
    return MultiLayerNet(784, [50, 100], 10, activation="sigmoid", dtype=np.float64)


@pytest.mark.xp
def test_ch03_sample_weight_reproduces_the_books_accuracy(book_weights, mnist):
    """The book's own code gives exactly 0.9352 on the 10,000 test images."""
    _, (x_test, t_test) = mnist
    net = load_book_params(book_net(), book_weights / "ch03_sample_weight.pkl")
    assert net.params["W1"].dtype == np.float64
    assert net.accuracy(x_test, t_test) == 0.9352


def malicious_pickles(marker: Path) -> dict[str, bytes]:
    """Pickles that would create `marker` if unpickled by plain `pickle.loads`."""
    params = {"W1": np.zeros((784, 50)), "b1": np.zeros(50)}
    protocol0 = f"cos\nsystem\n(V touch {marker}\ntR.".encode()
    return {
        "reduce-os-system": pickle.dumps({**params, "W2": ShellCommand(marker)}, protocol=3),
        "reduce-eval": pickle.dumps(Evaluate(marker), protocol=4),
        "protocol-0-global": protocol0,
        "inside-object-array": pickle.dumps(
            {**params, "W2": np.array([ShellCommand(marker)], dtype=object)}, protocol=2),
    }


@pytest.mark.parametrize("kind", ["reduce-os-system", "reduce-eval", "protocol-0-global",
                                  "inside-object-array"])
def test_malicious_pickle_is_refused_without_running(kind, tmp_path):
    """Refused with ModelFileError naming the import; the marker is never created.

    The control runs plain `pickle.loads` on the same bytes in a child process and
    sees the marker appear: the attack is real.
    """
    marker = tmp_path / "PWNED"
    path = tmp_path / f"{kind}.pkl"
    path.write_bytes(malicious_pickles(marker)[kind])
    with pytest.raises(ModelFileError, match="unsafe or damaged .*refused to import") as info:
        read_book_pickle(path)
    assert str(path) in str(info.value)
    with pytest.raises(ModelFileError):
        load_book_params(book_net(), path)
    assert not marker.exists()
    subprocess.run([sys.executable, "-c", "import pickle, sys; "
                    "pickle.loads(open(sys.argv[1], 'rb').read())", str(path)],
                   check=False, capture_output=True)
    assert marker.exists()


def good_params() -> dict[str, np.ndarray]:
    """Arrays with the names and shapes of ch03_sample_weight.pkl (float32, like it)."""
    shapes = {"W1": (784, 50), "b1": (50,), "W2": (50, 100), "b2": (100,), "W3": (100, 10),
              "b3": (10,)}
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


BAD_PICKLES = {
    "missing": (None, "no such file"),
    "empty": (b"", "not a parameter pickle"),
    "text": (b"hello, world\n", "unsafe or damaged"),
    "truncated": ("truncated", "unsafe or damaged (pickle data was truncated)"),
    "not-a-dict": (pickle.dumps(list(good_params().values())), "expected a dict of NumPy arrays"),
    "non-array-value": (pickle.dumps({**good_params(), "W1": [[0.0] * 50] * 784}),
                        "expected a dict of NumPy arrays"),
    "non-string-key": (pickle.dumps({1: np.zeros(3)}), "expected a dict of NumPy arrays"),
    "missing-key": (pickle.dumps({k: v for k, v in good_params().items() if k != "b3"}),
                    "do not match the model's"),
    "extra-key": (pickle.dumps({**good_params(), "W4": np.zeros((10, 10))}),
                  "do not match the model's"),
    "wrong-shape": (pickle.dumps({**good_params(), "W2": np.zeros((100, 50))}),
                    "W2 has shape (100, 50), the model needs (50, 100)"),
    "string-array": (pickle.dumps({**good_params(), "b1": np.array(["x"] * 50)}),
                     "b1 has dtype <U1"),
    "object-array": (pickle.dumps({**good_params(), "b1": np.array([None] * 50)}),
                     "b1 has dtype object"),
    "complex-array": (pickle.dumps({**good_params(), "b1": np.zeros(50, complex)}),
                      "b1 has dtype complex128"),
}
"""Each kind of bad pickle: its bytes, and the words its error must contain."""


@pytest.mark.parametrize("kind", list(BAD_PICKLES))
def test_bad_pickle_gives_a_clear_error(kind, tmp_path):
    """ModelFileError, one line, naming the file and what is wrong with it."""
    data, fragment = BAD_PICKLES[kind]
    path = tmp_path / f"{kind}.pkl"
    if data == "truncated":
        whole = pickle.dumps(good_params(), protocol=3)
        path.write_bytes(whole[: len(whole) // 2])
    elif data is not None:
        path.write_bytes(data)
    net = book_net()
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(ModelFileError) as info:
        load_book_params(net, path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message
    assert all(np.array_equal(net.params[k], before[k]) for k in before)


def test_good_pickle_of_our_own_round_trips(tmp_path):
    """A pickle of plain float32 arrays with the book's names loads, as float64."""
    path = tmp_path / "params.pkl"
    params = good_params()
    path.write_bytes(pickle.dumps(params, protocol=3))
    net = load_book_params(book_net(), path)
    for name, value in params.items():
        assert net.params[name].dtype == np.float64
        assert np.array_equal(net.params[name], value.astype(np.float64))
