"""Where a data set's files are: an explicit folder, SCRATCHDL_DATA, the cache, Debian's.

A folder given explicitly (argument or environment variable) must exist; a
location that holds none of a data set's files is skipped; one that holds some
of them is used, and its missing or damaged files are reported by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from scratchdl.data.registry import DataFile, Dataset, get_dataset
from scratchdl.runtime.errors import DataError

DEBIAN_DIR = Path("/usr/share/datasets")
"""Debian's data set folder (`apt install dataset-fashion-mnist` fills `fashion-mnist/`)."""


def cache_root() -> Path:
    """The user cache folder: `SCRATCHDL_CACHE`, else the OS's (platformdirs)."""
    env = os.environ.get("SCRATCHDL_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("scratchdl"))


def find_file(folder: Path, f: DataFile) -> Path | None:
    """`folder/NAME.gz` or `folder/NAME`, whichever exists first; None if neither."""
    for name in (f.gz_name, f.name):
        path = folder / name
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class Location:
    """A folder holding (some of) a data set's files; `source` says how it was found (the
    argument `${data_dir}`, an environment variable, the cache or Debian's folder)."""

    dataset: Dataset
    folder: Path
    source: str
    paths: dict[str, Path | None]

    @property
    def missing(self) -> list[DataFile]:
        return [self.dataset.files[k] for k, p in self.paths.items() if p is None]

    def require_complete(self) -> dict[str, Path]:
        """The four paths; DataError naming the first missing file otherwise."""
        for f in self.missing:
            raise DataError(
                f"{self.folder / f.gz_name} is missing (found via {self.source}, which holds "
                f"other {self.dataset.name} files): put the file there or remove the folder"
            )
        return {k: p for k, p in self.paths.items() if p is not None}


def _search_path(ds: Dataset, data_dir: str | os.PathLike | None) -> Iterator[tuple[str, Path]]:
    explicit = [("${data_dir}", data_dir), ("SCRATCHDL_DATA", os.environ.get("SCRATCHDL_DATA"))]
    for source, root in explicit:
        if not root:
            continue
        root = Path(root)
        if not root.is_dir():
            raise DataError(
                f"data folder {root} (from {source}) does not exist or is not a folder: "
                f"fix {source} to name a folder holding {ds.name}/"
            )
        yield source, root / ds.name
        yield source, root
    yield "the cache", cache_root() / ds.name
    yield "Debian's datasets folder", DEBIAN_DIR / ds.name


def locate(dataset: str | Dataset, data_dir: str | os.PathLike | None = None) -> Location | None:
    """The first location holding any of the data set's files, or None (download needed)."""
    ds = get_dataset(dataset)
    for source, folder in _search_path(ds, data_dir):
        paths = {k: find_file(folder, f) for k, f in ds.files.items()}
        if any(paths.values()):
            return Location(ds, folder, source, paths)
    return None
