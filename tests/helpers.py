"""Helpers shared by the tests: our `.npz` files, bad input files, the CLI in-process,
and comparisons of device arrays (see `xp_module` in conftest.py) with host values."""

from __future__ import annotations

import json
from numbers import Number
from pathlib import Path

import numpy as np

from scratchdl.app import cli
from scratchdl.io import HEADER
from scratchdl.runtime.backend import to_numpy
from scratchdl.runtime.threads import controller


def default_blas_threads() -> int:
    """How many threads BLAS uses now (1 if there is no BLAS)."""
    pools = controller().select(user_api="blas").info()
    return max((p["num_threads"] for p in pools), default=1)


def host(a) -> np.ndarray:
    """`a` on the host: arrays of the active device through `to_numpy`, the expected
    values a test writes (numbers, lists, NumPy arrays) as they are."""
    if isinstance(a, (list, tuple)):
        return np.asarray([host(v) for v in a])
    if isinstance(a, (Number, np.generic, np.ndarray)):
        return np.asarray(a)
    return to_numpy(a)


def assert_close(actual, desired, **tolerances) -> None:
    """`np.testing.assert_allclose` of device or host arrays."""
    np.testing.assert_allclose(host(actual), host(desired), **tolerances)


def assert_equal(actual, desired, **options) -> None:
    """`np.testing.assert_array_equal` of device or host arrays."""
    np.testing.assert_array_equal(host(actual), host(desired), **options)


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    """Every array of one of our `.npz` files, without its header."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files if k != HEADER}


def header_of(path: Path) -> dict:
    """The JSON header of one of our `.npz` files."""
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz[HEADER]))


def run_cli(argv: list, capsys) -> tuple[int, str, str]:
    """Run `scratchdl ARGV` in-process: (exit status, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


UNREADABLE = ("missing", "folder", "empty", "text")
"""The bad files every reader meets, whatever it reads."""


def write_unreadable(kind: str, path: Path, text: str) -> Path:
    """`path` made into one of UNREADABLE: absent, a folder, empty, or `text`."""
    if kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text(text)
    return path
