"""Fuzzing the file loaders: whatever the bytes, the only outcomes are success or
the project's own one-line error (a `ScratchdlError`).

Targets: `scratchdl.io.load_model` (random bytes, truncations and mutations of a
valid file, zips with random members, random JSON headers and configs) and
`scratchdl.app.image.load_digit` (random bytes, truncations and mutations of valid
PNG, JPEG, GIF, BMP and TIFF files; images declaring enormous sizes). Each
property is bounded to a second or two; `benchmarks/fuzz_files.py` runs longer.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from scratchdl.app.image import MAX_PIXELS, load_digit
from scratchdl.io import HEADER, load_model, save_model
from scratchdl.models import TwoLayerNet
from scratchdl.runtime.errors import ScratchdlError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
"""Bounded runs: about a second per property on a laptop."""


def only_own_errors(load, data: bytes, path: Path):
    """Write `data` to `path` and load it: success, or a one-line ScratchdlError.

    Warnings count as failures too: they would add lines to the command's output.
    """
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return load(path)
    except ScratchdlError as e:
        assert "\n" not in str(e)
        return None


def tiny_model_file() -> bytes:
    """A valid model file small enough that mutations hit its structure, not its data."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.npz"
        save_model(TwoLayerNet(4, 3, 2, rng=0, dtype=np.float32), path, seed=0)
        return path.read_bytes()


MODEL = tiny_model_file()


def model_parts() -> tuple[dict, dict[str, np.ndarray]]:
    """The header and arrays of MODEL."""
    with np.load(io.BytesIO(MODEL), allow_pickle=False) as npz:
        return json.loads(str(npz[HEADER])), {k: npz[k] for k in npz.files if k != HEADER}


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` with a few bytes overwritten, inserted or deleted."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        if op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif len(data) > 1:
            del data[i]
    return bytes(data)


def truncated(seed: bytes):
    """Every prefix of `seed`."""
    return st.integers(0, len(seed) - 1).map(lambda n: seed[:n])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One folder for the module's inputs: each example overwrites its file."""
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(st.binary(max_size=2000))
def test_model_loader_random_bytes(workdir, data):
    """Arbitrary bytes as a model file."""
    only_own_errors(load_model, data, workdir / "random.npz")


@FUZZ
@given(truncated(MODEL))
def test_model_loader_truncated(workdir, data):
    """Every strict prefix of a valid model file is refused."""
    assert only_own_errors(load_model, data, workdir / "truncated.npz") is None


@FUZZ
@given(mutated(MODEL))
def test_model_loader_mutated(workdir, data):
    """A valid model file with a few bytes changed."""
    only_own_errors(load_model, data, workdir / "mutated.npz")


def npy(array: np.ndarray) -> bytes:
    """The `.npy` bytes of `array`."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


VALID_MEMBERS = {f"{HEADER}.npy": npy(np.array(json.dumps(model_parts()[0]))),
                 **{f"{k}.npy": npy(a) for k, a in model_parts()[1].items()}}
"""MODEL's zip members, as `np.savez` writes them."""

small_arrays = st.builds(
    lambda dtype, shape, fill: np.full(shape, fill).astype(dtype),
    st.sampled_from(["<f4", "<f8", ">f8", "<i4", "u1", "?", "<c8", "<U3", "|S2", "<f2"]),
    st.lists(st.integers(0, 5), max_size=3).map(tuple),
    st.integers(0, 3))
member_bytes = st.one_of(
    st.binary(max_size=200),
    small_arrays.map(npy),
    st.sampled_from(list(VALID_MEMBERS.values())).flatmap(mutated),
)


@FUZZ
@given(st.dictionaries(st.sampled_from([*VALID_MEMBERS, "x.npy", "W1", "a/b.npy"]),
                       member_bytes, max_size=3),
       st.sets(st.sampled_from(list(VALID_MEMBERS)), max_size=2))
def test_model_loader_zip_with_random_members(workdir, replaced, dropped):
    """MODEL's members with some replaced (random bytes, other arrays, mutated `.npy`),
    added or dropped."""
    members = {k: v for k, v in VALID_MEMBERS.items() if k not in dropped}
    members.update(replaced)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    only_own_errors(load_model, buf.getvalue(), workdir / "members.npz")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def with_header(header) -> bytes:
    """MODEL's arrays under a replacement header."""
    buf = io.BytesIO()
    np.savez(buf, **model_parts()[1], **{HEADER: np.array(json.dumps(header))})
    return buf.getvalue()


@FUZZ
@given(json_values)
def test_model_loader_random_json_header(workdir, header):
    """Valid arrays under an arbitrary JSON header."""
    only_own_errors(load_model, with_header(header), workdir / "header.npz")


@FUZZ
@given(st.dictionaries(
    st.sampled_from(["model", "input_size", "hidden_size", "output_size", "weight_init_std",
                     "activation", "hidden_size_list", "use_batchnorm", "use_dropout",
                     "dropout_ration", "weight_decay_lambda", "input_dim", "conv_param"]),
    json_values | st.sampled_from(["two-layer", "multi-layer", "simple-conv", "deep-conv"]),
    max_size=6),
    st.sampled_from([None, "float16", "float32", "float64", "int8", "object", "V8", "bogus"]))
def test_model_loader_random_config(workdir, changes, dtype):
    """Plausible headers: MODEL's config with random fields replaced, any dtype."""
    header, _ = model_parts()
    header = {**header, "config": {**header["config"], **changes}}
    if dtype is not None:
        header["dtype"] = dtype
    only_own_errors(load_model, with_header(header), workdir / "config.npz")


def image_bytes(fmt: str, mode: str, size=(12, 10), **save) -> bytes:
    """A small valid image file with a digit-like stroke."""
    a = np.zeros(size[::-1], np.uint8)
    a[2:-2, size[0] // 2 - 1 : size[0] // 2 + 1] = 255
    img = Image.fromarray(a).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


IMAGES = {
    "png-gray": image_bytes("PNG", "L"),
    "png-rgba": image_bytes("PNG", "RGBA"),
    "png-palette": image_bytes("PNG", "P", transparency=0),
    "png-16-bit": image_bytes("PNG", "I;16"),
    "jpeg": image_bytes("JPEG", "RGB", quality=80),
    "jpeg-progressive": image_bytes("JPEG", "L", progressive=True),
    "gif": image_bytes("GIF", "P"),
    "bmp": image_bytes("BMP", "RGB"),
    "tiff": image_bytes("TIFF", "L", compression="tiff_lzw"),
}
"""Valid seed images in the formats a user might hand to `predict`."""


def check_digit(path: Path):
    """load_digit must give a finite (28, 28) array in [0, 1] when it succeeds."""
    x = load_digit(path)
    assert x.shape == (28, 28) and np.isfinite(x).all()
    assert 0.0 <= x.min() and x.max() <= 1.0
    return x


@FUZZ
@given(st.binary(max_size=2000))
def test_image_loader_random_bytes(workdir, data):
    """Arbitrary bytes as an image file."""
    only_own_errors(check_digit, data, workdir / "random.img")


@FUZZ
@given(st.sampled_from(list(IMAGES)).flatmap(lambda k: truncated(IMAGES[k])))
def test_image_loader_truncated(workdir, data):
    """Prefixes of valid images in each format."""
    only_own_errors(check_digit, data, workdir / "truncated.img")


@FUZZ
@given(st.sampled_from(list(IMAGES)).flatmap(lambda k: mutated(IMAGES[k])))
def test_image_loader_mutated(workdir, data):
    """Valid images in each format with a few bytes changed."""
    only_own_errors(check_digit, data, workdir / "mutated.img")


def declaring(fmt: str, width: int, height: int) -> bytes:
    """A tiny valid image whose header is patched to declare width x height."""
    data = bytearray(image_bytes(fmt, "L" if fmt != "GIF" else "P", size=(1, 1)))
    if fmt == "PNG":
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    elif fmt == "GIF":
        data[6:10] = struct.pack("<HH", width, height)
    elif fmt == "BMP":
        data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def test_huge_declared_sizes_are_refused_without_allocating(workdir):
    """Headers declaring up to 100000x100000 pixels: refused with ImageError, in a child
    process capped at 1.5 GiB of address space (so decoding them would fail loudly)."""
    side = int(MAX_PIXELS**0.5) + 10
    cases = [("PNG", 100_000, 100_000), ("PNG", side, side), ("PNG", 9500, 9500),
             ("PNG", 2**31 - 1, 1), ("GIF", 65535, 65535), ("BMP", 100_000, 100_000)]
    paths = []
    for fmt, w, h in cases:
        path = workdir / f"huge-{w}x{h}.{fmt.lower()}"
        path.write_bytes(declaring(fmt, w, h))
        paths.append(str(path))
    code = ("import sys\nfrom scratchdl.app.image import load_digit\n"
            "from scratchdl.runtime.errors import ImageError\nfor p in sys.argv[1:]:\n"
            "    try:\n        load_digit(p)\n        print('loaded', p)\n"
            "    except ImageError as e:\n        print('ImageError', e)\n")
    limit = 3 << 29

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True,
                            text=True, timeout=60, preexec_fn=cap_memory, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == len(cases)
    for line in lines:
        assert line.startswith("ImageError "), line
        assert "too large" in line or "decompression bomb" in line or "exceeds limit" in line \
            or "cannot decode" in line, line
