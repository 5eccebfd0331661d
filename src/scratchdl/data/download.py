"""Download a data set's files from its mirrors, verified, into a folder.

Transport and the tqdm progress bar are pooch's `HTTPDownloader` (requests).
pooch's own `retrieve` does not fit: its hash is of the .gz as served, which
differs between mirrors, and it renames before we can check the IDX content.
So each file goes to a hidden temp name in the destination folder, its
decompressed SHA-256 is checked, and only then is it renamed into place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from scratchdl.data.idx import ChecksumMismatch, read_idx
from scratchdl.data.locations import cache_root, find_file
from scratchdl.data.registry import DataFile, Dataset, get_dataset, mirrors_for
from scratchdl.runtime.atomic import atomic_path
from scratchdl.runtime.errors import DataError, DownloadError

TIMEOUT_S = 30


def fetch(url: str, path: str, progress: bool, label: str) -> None:
    """Write the body at `url` into `path`; requests' exceptions pass through."""
    import pooch
    from tqdm import tqdm

    # pooch sets the bar's total from Content-Length; a nonzero total until then keeps
    # the bar truthy, which is how pooch decides to use it.
    bar = progress and tqdm(desc=label, total=1, unit="B", unit_scale=True, file=sys.stderr)
    try:
        pooch.HTTPDownloader(progressbar=bar, chunk_size=1 << 16, timeout=TIMEOUT_S)(
            url, path, None
        )
    finally:
        if progress:
            bar.close()


def reason(exc: Exception) -> str:
    """A failed request's cause in a few words: HTTP 404, timed out, cannot connect."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    return "download interrupted"


def fetch_first(urls: list[str], dest: Path, verify: Callable[[Path], object],
                progress: bool, label: str, suffix: str = ".tmp",
                ) -> tuple[Path | None, list[str], int]:
    """Download `dest` from the first of `urls` whose file `verify` accepts (it raises
    ChecksumMismatch or DataError otherwise); a file that fails never takes the name.

    Returns (dest, or None if every URL failed; what failed at each URL; how many of them
    served a file whose checksum did not match).
    """
    import requests

    failures, mismatches = [], 0
    for url in urls:
        try:
            with atomic_path(dest, suffix=suffix) as tmp:
                fetch(url, str(tmp), progress, label)
                verify(tmp)
            return dest, failures, mismatches
        except requests.RequestException as e:
            failures.append(f"{url}: {reason(e)}")
        except ChecksumMismatch:
            mismatches += 1
            failures.append(f"{url}: checksum mismatch")
        except DataError:
            failures.append(f"{url}: damaged file")
        except OSError as e:
            raise DataError(f"cannot write {dest}: {e.strerror or e}; set SCRATCHDL_CACHE or "
                            "${data_dir} to a writable folder") from None
    return None, failures, mismatches


def download_file(
    dataset: str | Dataset,
    f: DataFile,
    dest: Path,
    *,
    mirrors: list[str] | tuple[str, ...] | None = None,
    progress: bool | None = None,
) -> Path:
    """Download `f` into `dest/NAME.gz` from the first mirror whose copy verifies.

    Raises DownloadError (checksum mismatch, or every mirror down) with the manual steps.
    """
    ds = get_dataset(dataset)
    progress = sys.stderr.isatty() if progress is None else progress
    bases = mirrors_for(ds, mirrors)
    urls = [base + f.gz_name for base in bases]
    path, failures, mismatches = fetch_first(
        urls, dest / f.gz_name, lambda tmp: read_idx(tmp, sha256=f.sha256), progress,
        f.gz_name, suffix=".part")
    if path is not None:
        return path
    what = "checksum mismatch on every mirror; " if mismatches == len(urls) else ""
    raise DownloadError(
        f"could not download {f.gz_name} for {ds.name} ({what}{'; '.join(failures)}). "
        f"Fix: download {', '.join(g.gz_name for g in ds.file_list())} by hand from "
        f"{' or '.join(bases)} into {dest}/, or point ${{data_dir}} (or SCRATCHDL_DATA) at "
        f"a folder holding {ds.name}/ with them{', ' + ds.manual_hint if ds.manual_hint else ''}"
    )


def download_dataset(
    dataset: str | Dataset,
    dest: str | os.PathLike | None = None,
    *,
    mirrors: list[str] | tuple[str, ...] | None = None,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Download the data set's missing files into `dest` (default: the cache); paths by kind.

    Files already in `dest` are kept as they are (`load_mnist` verifies them).
    """
    ds = get_dataset(dataset)
    dest = Path(dest) if dest is not None else cache_root() / ds.name
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create download folder {dest}: {e.strerror or e}; set SCRATCHDL_CACHE "
            "or ${data_dir} to a writable folder"
        ) from None
    paths = {}
    for kind, f in ds.files.items():
        paths[kind] = find_file(dest, f) or download_file(
            ds, f, dest, mirrors=mirrors, progress=progress
        )
    return paths
