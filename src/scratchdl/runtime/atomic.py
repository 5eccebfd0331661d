"""Crash-safe file writing: write a temporary file beside the target, fsync, rename.

A reader never sees a half-written file under the final name: either the old
file or the complete new one. A process killed mid-write (SIGKILL, power loss)
leaves its hidden temporary file behind; the next successful write of the same
name removes such leftovers once they are an hour old (`remove_stale`). Model files,
checkpoints, figures, downloads and the data cache are all written this way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STALE_AFTER_S = 3600.0
"""Age after which a leftover temporary file is taken for a dead writer's."""


def remove_stale(directory: str | os.PathLike, name: str, suffix: str) -> None:
    """Delete hidden temporaries `.NAME.*SUFFIX` in `directory` untouched for an hour.

    A write still in progress keeps its file fresh, so only dead writers' go.
    """
    cutoff = time.time() - STALE_AFTER_S
    for leftover in Path(directory).glob(f".{name}.*{suffix}"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path `.NAME.*SUFFIX` beside `path`; on success fsync it and rename
    it to `path` (readable by all, as files written directly are).

    On any exception the temporary file is removed and `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    remove_stale(path.parent, path.name, suffix)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
