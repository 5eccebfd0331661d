"""The IDX reader: good files, every kind of damaged file, and a bounded fuzz run."""

from __future__ import annotations

import gzip
import hashlib
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchdl.data import ChecksumMismatch, read_idx, read_idx_bytes
from scratchdl.runtime.errors import DataError


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file holding `array` (stored big-endian)."""
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + big.tobytes()


IMAGES = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
GOOD = idx_bytes(IMAGES)


def write(tmp_path: Path, data: bytes, name: str = "f-idx3-ubyte") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_reads_raw_and_gzip(tmp_path, compress):
    path = write(tmp_path, gzip.compress(GOOD) if compress else GOOD, "x.gz" if compress else "x")
    array = read_idx(path)
    assert array.dtype == np.uint8 and array.shape == (3, 4, 5)
    np.testing.assert_array_equal(array, IMAGES)
    array[0, 0, 0] = 7  # writable
    assert read_idx_bytes(path)[1] == hashlib.sha256(GOOD).hexdigest()


@pytest.mark.parametrize(
    ("dtype", "code"), [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                        (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_other_types_come_back_native_endian(tmp_path, dtype, code):
    values = (np.arange(-6, 6) * 3).astype(dtype).reshape(3, 4)
    array = read_idx(write(tmp_path, idx_bytes(values, code)))
    assert array.dtype == np.dtype(dtype) and array.dtype.isnative
    np.testing.assert_array_equal(array, values)


def test_labels_one_dimensional(tmp_path):
    labels = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write(tmp_path, idx_bytes(labels))), labels)


def test_checksum(tmp_path):
    path = write(tmp_path, GOOD)
    read_idx(path, sha256=hashlib.sha256(GOOD).hexdigest())
    with pytest.raises(ChecksumMismatch, match="does not verify") as e:
        read_idx(path, sha256="0" * 64)
    assert isinstance(e.value, DataError) and str(path) in str(e.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"\x00\x00", "truncated"),
        (GOOD[:6], "truncated inside its IDX header"),
        (GOOD[:-1], "truncated"),
        (GOOD[:16], "truncated"),
        (GOOD + b"\x00", "trailing bytes"),
        (GOOD + b"garbage!", "trailing bytes"),
        (b"\x00\x00\x07\x03" + GOOD[4:], "not an IDX file"),
        (b"\x08\x03\x00\x00" + GOOD[4:], "not an IDX file"),
        (b"\x00\x00\x08\x00" + GOOD[4:], "not an IDX file"),
        (b"\x00\x01\x08\x03" + GOOD[4:], "not an IDX file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not an IDX file"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_damaged_files_fail_with_one_clear_error(tmp_path, data, message, compress):
    path = write(tmp_path, gzip.compress(data) if compress else data)
    with pytest.raises(DataError, match=message) as e:
        read_idx(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("compress", [False, True])
def test_huge_declared_dimensions_fail_fast_without_allocating(tmp_path, compress):
    for dims, message in [((10**6, 10**6, 10**6), "truncated"),
                          ((10**9, 10**9, 10**9), "too large for an array")]:
        data = b"\x00\x00\x08\x03" + struct.pack(">III", *dims) + bytes(1000)
        path = write(tmp_path, gzip.compress(data) if compress else data)
        start = time.perf_counter()
        with pytest.raises(DataError, match=message):
            read_idx(path)
        assert time.perf_counter() - start < 1.0


def test_huge_declared_dimensions_with_a_zero_dimension_is_empty(tmp_path):
    header = b"\x00\x00\x08\x03" + struct.pack(">III", 0, 10**9, 10**9)
    assert read_idx(write(tmp_path, header)).shape == (0, 10**9, 10**9)


@pytest.mark.parametrize("dims", [(0, 2**32 - 1, 2**32 - 1, 2**32 - 1),
                                  (2**32 - 1, 2**32 - 1, 2**32 - 1)])
def test_dimensions_beyond_any_array(tmp_path, dims):
    header = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    with pytest.raises(DataError, match="too large for an array"):
        read_idx(write(tmp_path, header + bytes(10)))


def test_bad_gzip(tmp_path):
    gz = bytearray(gzip.compress(GOOD))
    gz[-8] ^= 0xFF  # CRC-32 in the trailer
    with pytest.raises(DataError, match="damaged gzip"):
        read_idx(write(tmp_path, bytes(gz), "crc.gz"))
    with pytest.raises(DataError, match="damaged gzip"):
        read_idx(write(tmp_path, gzip.compress(GOOD)[:-12], "short.gz"))
    with pytest.raises(DataError, match="damaged gzip"):
        read_idx(write(tmp_path, b"\x1f\x8b" + bytes(40), "header.gz"))
    with pytest.raises(DataError, match="damaged gzip"):
        read_idx(write(tmp_path, gzip.compress(GOOD) + b"junk after the stream", "tail.gz"))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(DataError, match="is a folder"):
        read_idx(tmp_path)


# Fuzzing: the only allowed outcomes are an ndarray or a DataError.

def _outcome(data: bytes) -> str:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz"
        path.write_bytes(data)
        try:
            array = read_idx(path)
        except DataError:
            return "DataError"
    assert isinstance(array, np.ndarray)
    return "ndarray"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_random_bytes(data, compress):
    _outcome(gzip.compress(data) if compress else data)


@FUZZ
@given(
    st.integers(0, len(GOOD) + 4),
    st.lists(st.tuples(st.integers(0, 15), st.integers(0, 255)), max_size=4),
    st.binary(max_size=8),
    st.booleans(),
)
def test_fuzz_mutated_headers_and_truncations(cut, mutations, tail, compress):
    data = bytearray(GOOD[:cut] + tail)
    for pos, value in mutations:
        if pos < len(data):
            data[pos] = value
    outcome = _outcome(gzip.compress(bytes(data)) if compress else bytes(data))
    if bytes(data) == GOOD:
        assert outcome == "ndarray"
    elif cut < len(GOOD) and not mutations and not tail:
        assert outcome == "DataError"


@FUZZ
@given(st.integers(0, 80), st.integers(0, 255))
def test_fuzz_damaged_gzip(pos, value):
    gz = bytearray(gzip.compress(GOOD))
    gz[pos % len(gz)] = value
    _outcome(bytes(gz))
