"""Data sets: IDX reading, the registry, locating, downloading and `load_mnist`.

Environment: `SCRATCHDL_DATA` (a folder holding `mnist/`, `fashion-mnist/`),
`SCRATCHDL_CACHE` (download and fast-cache folder), `SCRATCHDL_MIRRORS`
(base URLs replacing the registry's mirrors). `book_weights` finds or fetches the
parameters published with the book. `load_spiral`, `load_circles` and `load_xor` make
small sets of points in the plane (`toy`).
"""

from scratchdl.data.book_weights import BOOK_WEIGHTS, book_weights
from scratchdl.data.download import download_dataset, download_file
from scratchdl.data.idx import ChecksumMismatch, read_idx, read_idx_bytes
from scratchdl.data.locations import DEBIAN_DIR, Location, cache_root, find_file, locate
from scratchdl.data.mnist import load_arrays, load_mnist
from scratchdl.data.registry import DATASETS, KINDS, DataFile, Dataset, get_dataset, mirrors_for
from scratchdl.data.toy import TOY_SETS, load_circles, load_spiral, load_xor

__all__ = [
    "BOOK_WEIGHTS",
    "DATASETS",
    "DEBIAN_DIR",
    "KINDS",
    "TOY_SETS",
    "ChecksumMismatch",
    "DataFile",
    "Dataset",
    "Location",
    "book_weights",
    "cache_root",
    "download_dataset",
    "download_file",
    "find_file",
    "get_dataset",
    "load_arrays",
    "load_circles",
    "load_mnist",
    "load_spiral",
    "load_xor",
    "locate",
    "mirrors_for",
    "read_idx",
    "read_idx_bytes",
]
