"""`load_mnist` as in the book, on verified files, with a fast uncompressed cache.

The first use of a set of files checks their decompressed SHA-256 and writes the
arrays to `<cache>/npz/<dataset>-<key>.npz` (key: the registry checksums), plus a
record of the verified files (path, size, mtime). Later loads of the same files
read that .npz (no pickle) instead of decompressing. Writes are atomic
(`runtime.atomic`); an unwritable cache only costs speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scratchdl.data.download import download_dataset
from scratchdl.data.idx import read_idx
from scratchdl.data.locations import Location, cache_root, locate
from scratchdl.data.registry import KINDS, Dataset, get_dataset
from scratchdl.runtime.atomic import atomic_path
from scratchdl.runtime.errors import DataError

NUM_CLASSES = 10
_warned: set[str] = set()

Stamp = tuple[str, int, int]


def _stamp(path: Path) -> Stamp:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _cache_paths(ds: Dataset) -> tuple[Path, Path]:
    """The .npz fast cache and its record of verified source files."""
    key = hashlib.sha256("".join(f.sha256 for f in ds.file_list()).encode()).hexdigest()[:16]
    folder = cache_root() / "npz"
    return folder / f"{ds.name}-{key}.npz", folder / f"{ds.name}-{key}.verified.json"


def _warn_once(folder: Path, exc: OSError) -> None:
    if str(folder) not in _warned:
        _warned.add(str(folder))
        print(
            f"scratchdl: warning: cannot write the fast cache in {folder} "
            f"({exc.strerror or exc}); loading will be slower. Set SCRATCHDL_CACHE to a "
            "writable folder to fix this.",
            file=sys.stderr,
        )


def _write_cache(path: Path, write: Callable) -> None:
    """Write `path` through `write(fileobj)` all at once, or not at all (warn once)."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            write(f)
    except OSError as e:
        _warn_once(path.parent, e)


def _read_verified(record: Path) -> set[Stamp]:
    try:
        return {tuple(s) for s in json.loads(record.read_text())}
    except (OSError, ValueError, TypeError):
        return set()


def _read_npz(path: Path, ds: Dataset) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in KINDS}
        _check_arrays(arrays, ds, path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, DataError):
        return None
    return arrays


def _check_arrays(arrays: dict[str, np.ndarray], ds: Dataset, where: Path) -> None:
    """Images uint8 (N, H, W) and labels uint8 (N,) in 0..9, N matching per split."""
    for split in ("train", "test"):
        x, t = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if (x.dtype != np.uint8 or t.dtype != np.uint8 or x.ndim != 3 or t.ndim != 1
                or len(x) != len(t) or (t.size and t.max() >= NUM_CLASSES)):
            raise DataError(
                f"the {split} files in {where} are not a {ds.name} image/label pair "
                f"(images {x.dtype} {x.shape}, labels {t.dtype} {t.shape}): replace them"
            )


def _find_or_download(ds: Dataset, data_dir, progress) -> Location:
    loc = locate(ds, data_dir)
    if loc is None or (loc.source == "the cache" and loc.missing):
        download_dataset(ds, progress=progress)
        loc = locate(ds, data_dir)
    return loc


def load_arrays(
    dataset: str | Dataset = "mnist", data_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> dict[str, np.ndarray]:
    """The four raw arrays by kind (images uint8 (N, 28, 28), labels uint8 (N,)), verified."""
    ds = get_dataset(dataset)
    paths = _find_or_download(ds, data_dir, progress).require_complete()
    try:
        stamps = {_stamp(p) for p in paths.values()}
    except OSError as e:
        raise DataError(f"cannot read {e.filename}: {e.strerror}") from None
    npz, record = _cache_paths(ds)
    verified = _read_verified(record)
    cached = _read_npz(npz, ds)
    if cached is not None and stamps <= verified:
        return cached
    arrays = {k: read_idx(p, sha256=ds.files[k].sha256) for k, p in paths.items()}
    _check_arrays(arrays, ds, next(iter(paths.values())).parent)
    if cached is None:
        _write_cache(npz, lambda f: np.savez(f, **arrays))
    verified = sorted(verified | stamps)[-64:]
    _write_cache(record, lambda f: f.write(json.dumps(verified).encode()))
    return arrays


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    dataset: str | Dataset = "mnist",
    data_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, t_train), (x_test, t_test)`, as the book's `load_mnist`.

    x: float32 in [0, 1] if `normalize` else uint8; (N, 784) if `flatten` else
    (N, 1, 28, 28). t: uint8 (N,), or float32 one-hot (N, 10) if `one_hot_label`.
    Files come from `data_dir`, `SCRATCHDL_DATA`, the cache, Debian's folder, or
    are downloaded into the cache (`progress`: bar on stderr; None: if a terminal).
    """
    arrays = load_arrays(dataset, data_dir, progress)

    def images(x: np.ndarray) -> np.ndarray:
        if normalize:  # x / 255 in float32, in one pass over the bytes (as fast as a copy)
            x = np.divide(x, np.float32(255.0), out=np.empty(x.shape, np.float32))
        return x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *x.shape[1:])

    def labels(t: np.ndarray) -> np.ndarray:
        return np.eye(NUM_CLASSES, dtype=np.float32)[t] if one_hot_label else t

    return (
        (images(arrays["train_images"]), labels(arrays["train_labels"])),
        (images(arrays["test_images"]), labels(arrays["test_labels"])),
    )
