"""Reader for the IDX format of MNIST (LeCun): a big-endian header, then the raw array.

The header is 0x00 0x00, a type code, the number of dimensions, then one uint32 per
dimension. Files may be gzip-compressed (detected from their first bytes). Lengths
are checked against the header before any array is built, and reading (a chunk at
a time) stops one byte past the declared length, so a header that declares 10^18
elements costs nothing, and a truncated, corrupt or padded file fails with one
`DataError` naming it.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

from scratchdl.runtime.errors import DataError

IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> big-endian dtype of the stored elements."""

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
MAX_BYTES = np.iinfo(np.intp).max


class ChecksumMismatch(DataError):
    """A file's content (an IDX file's decompressed bytes) does not have the expected SHA-256."""


def _open(path: Path):
    """Open `path` for binary reading, through gzip when its first bytes say so."""
    f = open(path, "rb")
    if f.read(2) == GZIP_MAGIC:
        f.close()
        return gzip.open(path, "rb")
    f.seek(0)
    return f


def _read_upto(f, n: int) -> bytearray:
    """Up to `n` bytes from `f` (fewer only at end of file), read a chunk at a time."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(n - len(buf), CHUNK))
        if not chunk:
            break
        buf += chunk
    return buf


def _check_magic(magic: bytes, name: str) -> None:
    if len(magic) < 4:
        raise DataError(f"{name} is truncated: {len(magic)} bytes, shorter than an IDX header")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES or magic[3] == 0:
        raise DataError(
            f"{name} is not an IDX file (magic number 0x{magic.hex()}, expected "
            "0x000008NN): replace it with the original download"
        )


def read_idx_bytes(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """The array stored in IDX file `path` (raw or .gz) and the SHA-256 of its IDX bytes.

    The array is writable, native-endian, of the header's shape: e.g. uint8
    (60000, 28, 28) for MNIST training images, (60000,) for its labels.
    """
    name = str(path)
    try:
        with _open(Path(path)) as f:
            magic = bytes(_read_upto(f, 4))
            _check_magic(magic, name)
            dim_bytes = bytes(_read_upto(f, 4 * magic[3]))
            if len(dim_bytes) < 4 * magic[3]:
                raise DataError(f"{name} is truncated inside its IDX header: replace it")
            dims = tuple(
                int.from_bytes(dim_bytes[i : i + 4], "big") for i in range(0, len(dim_bytes), 4)
            )
            dtype = IDX_TYPES[magic[2]]
            if math.prod(d for d in dims if d) * dtype.itemsize > MAX_BYTES:
                raise DataError(f"{name} declares dimensions {dims}, too large for an array")
            size = math.prod(dims) * dtype.itemsize
            body = _read_upto(f, size + 1)
    except FileNotFoundError:
        raise DataError(f"{name} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{name} is a folder, not an IDX file") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{name} is a damaged gzip file ({e}): replace it") from None
    except OSError as e:
        raise DataError(f"cannot read {name}: {e.strerror or e}") from None
    header = 4 + len(dim_bytes)
    if len(body) < size:
        raise DataError(
            f"{name} is truncated: {header + len(body)} bytes of IDX data, its header "
            f"declares {header + size}: replace it"
        )
    if len(body) > size:
        raise DataError(
            f"{name} has trailing bytes after the {header + size} its header declares: "
            "replace it"
        )
    digest = hashlib.sha256(magic + dim_bytes)
    digest.update(body)
    array = np.frombuffer(body, dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False), digest.hexdigest()


def read_idx(path: str | os.PathLike, *, sha256: str | None = None) -> np.ndarray:
    """Read IDX file `path` (raw or .gz); with `sha256`, also check the decompressed bytes.

    Raises `DataError` naming the file when it is missing, truncated, corrupt, not
    IDX, has trailing bytes, or (`ChecksumMismatch`) does not match `sha256`.
    """
    array, digest = read_idx_bytes(path)
    if sha256 is not None and digest != sha256:
        raise ChecksumMismatch(
            f"{path} does not verify (SHA-256 {digest[:12]}..., expected "
            f"{sha256[:12]}...): delete it and download it again"
        )
    return array
