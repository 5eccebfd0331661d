"""Lookup order and faults: bad folders, vanishing data, unwritable cache, bad fast cache."""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import scratchdl.data.locations
import scratchdl.data.mnist
from scratchdl.app.cli import main
from scratchdl.data import DATASETS, KINDS, DataFile, Dataset, load_mnist
from scratchdl.runtime.errors import DataError, UsageError, render

NAMES = [f.name for f in DATASETS["mnist"].file_list()]


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape) + array.tobytes()


def tiny_arrays(labels_max: int = 9) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
            np.arange(12, dtype=np.uint8) % (labels_max + 1),
            rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
            np.arange(6, dtype=np.uint8)]


def make_tiny(folder: Path, arrays=None, compress: bool = True) -> Dataset:
    """Write a tiny data set into `folder`; its registry entry (no mirrors)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind, name, array in zip(KINDS, NAMES, arrays or tiny_arrays(), strict=True):
        data = idx_bytes(array)
        path = folder / (name + ".gz" if compress else name)
        path.write_bytes(gzip.compress(data) if compress else data)
        files[kind] = DataFile(name, hashlib.sha256(data).hexdigest())
    return Dataset("tiny", files, ())


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache, no SCRATCHDL_DATA, no Debian folder, no network, a fresh warning."""
    monkeypatch.delenv("SCRATCHDL_DATA", raising=False)
    monkeypatch.setenv("SCRATCHDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SCRATCHDL_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setattr(scratchdl.data.locations, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(scratchdl.data.mnist, "_warned", set())
    return tmp_path


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_unknown_dataset_lists_the_names():
    with pytest.raises(UsageError, match="fashion-mnist, mnist"):
        load_mnist(dataset="cifar")


@pytest.mark.parametrize("compress", [True, False])
def test_data_dir_with_subfolder_or_files_directly(env, compress):
    ds = make_tiny(env / "data" / "tiny", compress=compress)
    (x, t), (xt, _) = load_mnist(dataset=ds, data_dir=env / "data")
    assert x.shape == (12, 784) and xt.shape == (6, 784)
    (x2, _), _ = load_mnist(dataset=ds, data_dir=env / "data" / "tiny", flatten=False)
    assert x2.shape == (12, 1, 28, 28)


def test_lookup_order(env, monkeypatch):
    ds = make_tiny(env / "env" / "tiny")
    (env / "empty").mkdir()
    monkeypatch.setenv("SCRATCHDL_DATA", str(env / "env"))
    loc = scratchdl.data.locate(ds, env / "empty")
    assert loc.source == "SCRATCHDL_DATA"
    make_tiny(env / "arg" / "tiny")
    assert render(scratchdl.data.locate(ds, env / "arg").source) == "data_dir"
    monkeypatch.delenv("SCRATCHDL_DATA")
    make_tiny(env / "debian" / "tiny")
    assert scratchdl.data.locate(ds).source == "Debian's datasets folder"
    make_tiny(env / "cache" / "tiny")
    assert scratchdl.data.locate(ds).source == "the cache"
    load_mnist(dataset=ds)


def test_explicit_folder_missing_a_file_is_an_error(env):
    ds = make_tiny(env / "data" / "tiny")
    load_mnist(dataset=ds, data_dir=env / "data")  # fills the fast cache
    os.remove(env / "data" / "tiny" / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is missing"):
        load_mnist(dataset=ds, data_dir=env / "data")


def test_corrupted_after_first_use_is_caught(env):
    ds = make_tiny(env / "data" / "tiny")
    load_mnist(dataset=ds, data_dir=env / "data")
    path = env / "data" / "tiny" / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[-1] ^= 1
    path.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz does not verify"):
        load_mnist(dataset=ds, data_dir=env / "data")


def test_truncated_file_is_named(env):
    ds = make_tiny(env / "data" / "tiny", compress=False)
    path = env / "data" / "tiny" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is truncated"):
        load_mnist(dataset=ds, data_dir=env / "data")


def test_data_dir_vanishing(env, monkeypatch):
    ds = make_tiny(env / "data" / "tiny")
    monkeypatch.setenv("SCRATCHDL_DATA", str(env / "data"))
    load_mnist(dataset=ds)
    shutil.rmtree(env / "data")
    with pytest.raises(DataError, match="from SCRATCHDL_DATA.* does not exist"):
        load_mnist(dataset=ds)
    with pytest.raises(DataError, match="from data_dir.* does not exist"):
        load_mnist(dataset=ds, data_dir=env / "gone")


def test_unwritable_cache_still_loads_and_warns_once(env, monkeypatch, capsys):
    (env / "file").write_text("not a folder")
    monkeypatch.setenv("SCRATCHDL_CACHE", str(env / "file" / "cache"))
    ds = make_tiny(env / "data" / "tiny")
    for _ in range(2):
        (x, _), _ = load_mnist(dataset=ds, data_dir=env / "data")
        assert x.shape == (12, 784)
    err = capsys.readouterr().err
    assert err.count("warning: cannot write the fast cache") == 1
    assert (env / "file").read_text() == "not a folder"


def test_disk_full_writes_nothing_half_done(env, monkeypatch, capsys):
    def full(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scratchdl.data.mnist.np, "savez", full)
    ds = make_tiny(env / "data" / "tiny")
    (x, _), _ = load_mnist(dataset=ds, data_dir=env / "data")
    assert x.shape == (12, 784)
    assert "No space left on device" in capsys.readouterr().err
    assert not any(n.endswith(".npz") or n.endswith(".tmp") for n in all_files(env / "cache"))


def test_damaged_or_pickled_fast_cache_is_rebuilt(env):
    ds = make_tiny(env / "data" / "tiny")
    (x, _), _ = load_mnist(dataset=ds, data_dir=env / "data")
    [npz] = (env / "cache" / "npz").glob("*.npz")
    npz.write_bytes(b"PK garbage")
    (x2, _), _ = load_mnist(dataset=ds, data_dir=env / "data")
    assert np.array_equal(x, x2)
    objects = {k: np.array([None], dtype=object) for k in KINDS}
    np.savez(npz, **objects)  # loading this would need pickle: never done
    (x3, _), _ = load_mnist(dataset=ds, data_dir=env / "data")
    assert np.array_equal(x, x3)
    with np.load(npz, allow_pickle=False) as f:
        assert f["train_images"].dtype == np.uint8


def test_not_an_image_label_pair(env):
    ds = make_tiny(env / "data" / "tiny", arrays=tiny_arrays(labels_max=11))
    with pytest.raises(DataError, match="not a tiny image/label pair"):
        load_mnist(dataset=ds, data_dir=env / "data")


def test_cli_info_reports_missing_and_bad_files(env, monkeypatch, capsys):
    ds = make_tiny(env / "data" / "tiny")
    monkeypatch.setitem(DATASETS, "tiny", ds)
    args = ["data", "info", "--dataset", "tiny", "--data-dir", str(env / "data")]
    assert main(args) == 0
    assert capsys.readouterr().out.count("  verified") == 4
    (env / "data" / "tiny" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b junk")
    os.remove(env / "data" / "tiny" / "train-labels-idx1-ubyte.gz")
    assert main(args) == 1
    out = capsys.readouterr().out
    assert re.search(r"train-labels-idx1-ubyte +missing", out)
    assert re.search(r"t10k-labels-idx1-ubyte.gz +FAILED: .* damaged gzip", out)
    assert out.count("  verified") == 2


def test_cli_errors_are_one_line(env, capsys):
    assert main(["data", "info", "--data-dir", str(env / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scratchdl: error: data folder") and err.count("\n") == 1
    assert main(["data", "info", "--dataset", "cifar"]) == 2
    assert "choose one of fashion-mnist, mnist" in capsys.readouterr().err
    assert main(["data", "info"]) == 1
    assert "not found" in capsys.readouterr().out
