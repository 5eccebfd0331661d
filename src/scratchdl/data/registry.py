"""The data sets scratchdl knows: their four files, checksums and download mirrors.

Checksums are SHA-256 of the *decompressed* IDX bytes: mirrors recompress the
gzip wrappers, so only the IDX content is canonical. `SCRATCHDL_MIRRORS`
(base URLs separated by spaces or commas) replaces every data set's mirror list,
for tests and for users behind a local mirror.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from scratchdl.runtime.errors import UsageError

KINDS = ("train_images", "train_labels", "test_images", "test_labels")
"""The four files of a data set, in the order `load_mnist` returns them."""


@dataclass(frozen=True)
class DataFile:
    """One IDX file: its name (without .gz), decompressed SHA-256 and size (0: unknown)."""

    name: str
    sha256: str
    size: int = 0

    @property
    def gz_name(self) -> str:
        return self.name + ".gz"


@dataclass(frozen=True)
class Dataset:
    """A data set: name, files by kind (see `KINDS`), mirrors in fallback order."""

    name: str
    files: dict[str, DataFile]
    mirrors: tuple[str, ...]
    manual_hint: str = ""

    def file_list(self) -> list[DataFile]:
        return [self.files[k] for k in KINDS]


def _files(sha: tuple[str, str, str, str], sizes=(0, 0, 0, 0)) -> dict[str, DataFile]:
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return {k: DataFile(n, s, z) for k, n, s, z in zip(KINDS, names, sha, sizes, strict=True)}


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        "mnist",
        _files(
            (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
            (47_040_016, 60_008, 7_840_016, 10_008),
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
    "fashion-mnist": Dataset(
        "fashion-mnist",
        _files(
            (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
            (47_040_016, 60_008, 7_840_016, 10_008),
        ),
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        manual_hint="or on Debian/Ubuntu `apt install dataset-fashion-mnist`",
    ),
}
"""Known data sets by name."""


def get_dataset(dataset: str | Dataset) -> Dataset:
    """The `Dataset` named `dataset` (a `Dataset` passes through); UsageError if unknown."""
    if isinstance(dataset, Dataset):
        return dataset
    try:
        return DATASETS[dataset]
    except KeyError:
        raise UsageError(
            f"unknown data set {dataset!r}: choose one of {', '.join(sorted(DATASETS))}"
        ) from None


def mirrors_for(dataset: Dataset, mirrors: list[str] | tuple[str, ...] | None = None
                ) -> tuple[str, ...]:
    """Base URLs to try, in order: `mirrors`, else `SCRATCHDL_MIRRORS`, else the registry's."""
    if mirrors is None:
        env = os.environ.get("SCRATCHDL_MIRRORS", "").replace(",", " ").split()
        mirrors = env or dataset.mirrors
    return base_urls(mirrors)


def base_urls(mirrors) -> tuple[str, ...]:
    """The mirrors as base URLs, each ending in '/' so that a file name can follow."""
    return tuple(m if m.endswith("/") else m + "/" for m in mirrors)
