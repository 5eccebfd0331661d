"""The parameters published with the book's reference code: found or downloaded, verified.

Three pickles of trained parameters (MIT licence, Koki Saitoh), the proof that a
network here computes what the book's does: the chapter 3 network (0.9352 on the
MNIST test set), SimpleConvNet (0.9890) and DeepConvNet (0.9935). They are
searched like the data sets (a `book-weights/` folder under --data-dir, then
under SCRATCHDL_DATA, then in the cache) and otherwise downloaded from the book's
repository into the cache, verified by SHA-256 before they take their name.
Read them with `scratchdl.io.load_book_params`, which admits NumPy arrays only.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from scratchdl.data.download import fetch_first
from scratchdl.data.idx import ChecksumMismatch
from scratchdl.data.locations import cache_root
from scratchdl.data.registry import base_urls
from scratchdl.runtime.errors import DataError, DownloadError, UsageError

FOLDER = "book-weights"
BOOK_REPOSITORY = "https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch/master/"


@dataclass(frozen=True)
class BookWeights:
    """One published file: its name here, its path in the book's repository, its SHA-256,
    the network (and its `scratchdl import-book --model`), the book's test accuracy."""

    name: str
    upstream: str
    sha256: str
    network: str
    model: str
    accuracy: float


BOOK_WEIGHTS: dict[str, BookWeights] = {w.name: w for w in [
    BookWeights("ch03_sample_weight.pkl", "ch03/sample_weight.pkl",
                "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13",
                "MultiLayerNet 784-50-100-10 sigmoid", "multi-layer", 0.9352),
    BookWeights("ch07_simple_convnet_params.pkl", "ch07/params.pkl",
                "290ab40c1b1218b392cdc155b633a5df642d829453702fa421ce5f3c6c55f779",
                "SimpleConvNet", "simple-conv", 0.9890),
    BookWeights("ch08_deep_convnet_params.pkl", "ch08/deep_convnet_params.pkl",
                "8c81d1d6ddedd08c8277c957f3af30a91e455a1d65474ec2b5a0e3527b7422cc",
                "DeepConvNet", "deep-conv", 0.9935),
]}
"""The book's published parameter files, by name."""


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file (a few MB at most), as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _candidates(name: str, data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """Where to look, in order: (how it was found, path)."""
    found = []
    for source, root in [("${data_dir}", data_dir), ("SCRATCHDL_DATA",
                                                    os.environ.get("SCRATCHDL_DATA"))]:
        if root:
            found += [(source, Path(root) / FOLDER / name), (source, Path(root) / name)]
    return [*found, ("the cache", cache_root() / FOLDER / name)]


def _verified(path: Path, w: BookWeights, source: str) -> Path:
    try:
        digest = sha256_of(path)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if digest != w.sha256:
        raise DataError(f"{path} (found via {source}) is not the book's {w.upstream}: its "
                        f"SHA-256 is {digest}, expected {w.sha256}; delete or replace it")
    return path


def book_weights(name: str, data_dir: str | os.PathLike | None = None, *,
                 mirrors: list[str] | tuple[str, ...] | None = None,
                 progress: bool | None = None) -> Path:
    """The path of the book's file `name` (a key of BOOK_WEIGHTS), verified.

    Downloads it into the cache from `mirrors` (base URLs standing for the book's
    repository; default the repository itself) when no folder holds it.
    """
    if name not in BOOK_WEIGHTS:
        raise UsageError(f"unknown book file {name!r}: choose one of {', '.join(BOOK_WEIGHTS)}")
    w = BOOK_WEIGHTS[name]
    for source, path in _candidates(name, data_dir):
        if path.is_file():
            return _verified(path, w, source)
    return download_book_weights(w, cache_root() / FOLDER / name, mirrors=mirrors,
                                 progress=progress)


def download_book_weights(w: BookWeights, dest: Path, *,
                          mirrors: list[str] | tuple[str, ...] | None = None,
                          progress: bool | None = None) -> Path:
    """Download `w` to `dest` from the first mirror whose copy verifies; nothing is left
    under `dest` otherwise."""
    progress = sys.stderr.isatty() if progress is None else progress

    def verify(tmp: Path) -> None:
        digest = sha256_of(tmp)
        if digest != w.sha256:
            raise ChecksumMismatch(f"{w.name}: SHA-256 {digest}, expected {w.sha256}")

    urls = [base + w.upstream for base in base_urls(mirrors or [BOOK_REPOSITORY])]
    path, failures, _ = fetch_first(urls, dest, verify, progress, w.name)
    if path is not None:
        return path
    raise DownloadError(
        f"could not download {w.name} ({'; '.join(failures)}). Fix: download "
        f"{BOOK_REPOSITORY}{w.upstream} by hand as {dest}, or point ${{data_dir}} (or "
        f"SCRATCHDL_DATA) at a folder holding {FOLDER}/{w.name}"
    )
