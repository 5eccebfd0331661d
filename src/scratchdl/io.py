"""Saving and loading parameters: our `.npz` model files and the book's pickles.

A model file is an uncompressed `.npz` holding one array per parameter (book
names) and `__header__`, a JSON string: format, architecture (`config`), dtype,
parameter shapes, and whatever the caller records (hyper-parameters, seed,
versions, metrics). It loads with `allow_pickle=False`, so it can never run code.
"""

from __future__ import annotations

import json
import pickle
import platform
from pathlib import Path

import numpy as np

from scratchdl import __version__
from scratchdl.models import Net, build_model
from scratchdl.runtime.atomic import atomic_path
from scratchdl.runtime.backend import to_numpy
from scratchdl.runtime.errors import ModelFileError

FORMAT = "scratchdl-model"
CHECKPOINT_FORMAT = "scratchdl-checkpoint"
HEADER = "__header__"

WRITTEN_BY = {
    FORMAT: ("model file", "the .npz that `scratchdl train --save FILE.npz` writes"),
    CHECKPOINT_FORMAT: ("checkpoint", "the checkpoint.npz that `scratchdl train "
                                      "--checkpoint-dir DIR` writes"),
}
"""For each of our formats: what to call such a file, and what one is."""


def model_arrays(model: Net) -> dict[str, np.ndarray]:
    """Every array that defines the model: its params and its buffers, on the host."""
    arrays = {name: to_numpy(p) for name, p in model.params.items()}
    arrays.update({name: to_numpy(b) for name, b in model.buffers().items()})
    return arrays


def versions() -> dict[str, str]:
    """The versions a file was written with."""
    return {"scratchdl": __version__, "numpy": np.__version__, "python": platform.python_version()}


def write_npz(path: str | Path, arrays: dict[str, np.ndarray], header: dict) -> None:
    """Write arrays and a JSON header to `path` atomically."""
    payload = dict(arrays)
    payload[HEADER] = np.array(json.dumps(header))
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **payload)
    except OSError as e:
        raise ModelFileError(f"cannot write {path}: {e.strerror or e}") from None


def read_npz(path: str | Path, expected_format: str = FORMAT) -> tuple[dict, dict]:
    """Read (header, arrays) from one of our `.npz` files, with `allow_pickle=False`."""
    path = Path(path)
    if not path.is_file():
        problem = "a folder, not a file" if path.is_dir() else "no such file"
        raise ModelFileError(f"{path}: {problem}")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as e:  # NumPy and zipfile raise many kinds on hostile bytes
        what, is_ = WRITTEN_BY[expected_format]
        raise ModelFileError(
            f"{path} is not a scratchdl {what} ({_what_it_is(path, e)}); a {what} is {is_}"
        ) from None
    if HEADER not in arrays:
        raise ModelFileError(f"{path} has no {HEADER}: it was not written by scratchdl")
    raw = sorted(name for name, a in arrays.items() if not isinstance(a, np.ndarray))
    if raw:
        raise ModelFileError(f"{path}: members {raw} are not NumPy arrays; the file is damaged")
    text = str(arrays.pop(HEADER))
    try:
        if not text.isascii():  # we write ASCII; NumPy can even yield invalid code points
            raise ValueError("it holds characters other than ASCII")
        header = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ModelFileError(f"{path}: its header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != expected_format:
        raise ModelFileError(f"{path} is not a {expected_format} file")
    return header, arrays


def _what_it_is(path: Path, error: Exception) -> str:
    """A few words on a file NumPy could not load as an .npz, from its first bytes.

    NumPy's own message is left out: for pickled members it advises enabling pickles.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        return f"it cannot be read: {e.strerror}"
    if not head:
        return "it is empty"
    if head.startswith(b"PK"):
        if "allow_pickle" in str(error):
            return "its members hold pickled Python objects, which scratchdl never loads"
        return f"it is a zip archive that is damaged or not an .npz: {type(error).__name__}"
    if head.startswith(b"\x80"):
        return "it is a Python pickle, which scratchdl never loads as a model"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not an .npz (zip) archive"
    return "it is a text file"


def save_model(model: Net, path: str | Path, **meta) -> None:
    """Save `model` to `path` (.npz) with its architecture and `meta` in the header."""
    arrays = model_arrays(model)
    header = {
        "format": FORMAT,
        "config": model.config,
        "dtype": model.dtype.name,
        "arrays": {n: [list(a.shape), a.dtype.name] for n, a in arrays.items()},
        "versions": versions(),
        **meta,
    }
    write_npz(path, arrays, header)


def _check_sizes(config, limit: int, path: str | Path) -> None:
    """Refuse a config declaring a size larger than the file's arrays could hold.

    Every layer size of a real model is at most its parameter count, so this stops a
    small hostile file from making `build_model` allocate gigabytes.
    """
    values = config.values() if isinstance(config, dict) else config
    for value in values:
        if isinstance(value, (dict, list)):
            _check_sizes(value, limit, path)
        elif isinstance(value, (int, float)) and abs(value) > limit:
            raise ModelFileError(f"{path}: its architecture declares a size {value}, more than "
                                 f"the {limit} numbers the file holds")


def model_from_header(header: dict, path: str | Path, **kwargs) -> Net:
    """Rebuild the (untrained) model a file's header describes; kwargs (e.g. another
    `dtype`) override the header's."""
    kwargs = {"dtype": header.get("dtype", "float64"), **kwargs}
    try:
        return build_model(header["config"], **kwargs)
    except Exception as e:  # the config is untrusted: any failure means a bad file
        raise ModelFileError(f"{path}: its architecture cannot be rebuilt ({e})") from None


def assign_arrays(model: Net, arrays: dict[str, np.ndarray], path: str | Path) -> None:
    """Put `arrays` into `model`, checking names, shapes and dtypes; say exactly what differs."""
    expected = model_arrays(model)
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{path}: arrays do not match the architecture (missing {missing}, unexpected {extra})"
        )
    for name, want in expected.items():
        got = arrays[name]
        if got.shape != want.shape:
            raise ModelFileError(f"{path}: {name} has shape {got.shape}, expected {want.shape}")
        if got.dtype.kind != "f":
            raise ModelFileError(f"{path}: {name} has dtype {got.dtype}, expected floating point")
    buffers = model.buffers()
    for name, value in arrays.items():
        value = value.astype(model.dtype, copy=False)
        if name in buffers:
            model.set_buffer(name, value)
        else:
            model.params[name] = value


def trained_on(header: dict) -> str:
    """The data set a model file's network was trained on (files that do not say: mnist)."""
    return header.get("hyperparameters", {}).get("dataset", "mnist")


def load_model(path: str | Path, **kwargs) -> tuple[Net, dict]:
    """Load a model saved by `save_model`: returns (model, header)."""
    header, arrays = read_npz(path)
    if isinstance(header.get("config"), (dict, list)):
        _check_sizes(header["config"], sum(a.size for a in arrays.values()), path)
    model = model_from_header(header, path, **kwargs)
    assign_arrays(model, arrays, path)
    return model, header


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits NumPy arrays and plain containers; refuses every other import."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to import {module}.{name}")
        module = module.replace("numpy.core.", "numpy._core.")
        return super().find_class(module, name)


def read_book_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """Read a parameter pickle of the book's reference code, admitting NumPy arrays only."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            params = _NumpyOnlyUnpickler(f).load()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except pickle.UnpicklingError as e:
        raise ModelFileError(f"{path}: not loaded, the pickle is unsafe or damaged ({e})") from None
    except Exception as e:
        raise ModelFileError(f"{path}: not a parameter pickle ({type(e).__name__}: {e})") from None
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in params.items()
    ):
        raise ModelFileError(f"{path}: expected a dict of NumPy arrays")
    return params


def load_book_params(model: Net, path: str | Path) -> Net:
    """Load the book's pickled parameters (e.g. `ch03_sample_weight.pkl`) into `model`.

    The book's names and shapes are ours, and its Dropout convention is ours too
    (not inverted), so the arrays go in unchanged and the model reproduces the
    book's accuracy.
    """
    return assign_book_params(model, read_book_pickle(path), path)


def assign_book_params(model: Net, params: dict[str, np.ndarray], path: str | Path) -> Net:
    """Put the arrays of a book pickle read from `path` into `model`, checking names,
    shapes and dtypes first (the model is unchanged when any differs)."""
    expected = set(model.params)
    if set(params) != expected:
        raise ModelFileError(
            f"{path}: parameters {sorted(params)} do not match the model's {sorted(expected)}"
        )
    for name, value in params.items():
        want = model.params[name].shape
        if value.shape != want:
            raise ModelFileError(f"{path}: {name} has shape {value.shape}, the model needs {want}")
        if value.dtype.kind != "f":
            raise ModelFileError(f"{path}: {name} has dtype {value.dtype}, expected floating point")
    for name, value in params.items():
        model.params[name] = value.astype(model.dtype)
    return model
