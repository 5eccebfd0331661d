"""Downloads against a local HTTP server on 127.0.0.1: mirrors, checksums, interruptions."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import scratchdl.data.locations
from scratchdl.app.cli import main
from scratchdl.data import DATASETS, KINDS, DataFile, Dataset, load_mnist
from scratchdl.runtime.atomic import STALE_AFTER_S
from scratchdl.runtime.errors import DownloadError


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape) + array.tobytes()


def tiny_files(seed: int = 0) -> dict[str, bytes]:
    """The four IDX files of a tiny MNIST-like data set (20 train, 10 test), by file name."""
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              np.arange(20, dtype=np.uint8) % 10,
              rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
              np.arange(10, dtype=np.uint8)]
    names = [f.name for f in DATASETS["mnist"].file_list()]
    return {n: idx_bytes(a) for n, a in zip(names, arrays, strict=True)}


def tiny_dataset(files: dict[str, bytes], mirrors=(), name: str = "tiny") -> Dataset:
    """A registry entry whose checksums are those of `files`."""
    specs = {k: DataFile(n, hashlib.sha256(b).hexdigest(), len(b))
             for k, (n, b) in zip(KINDS, files.items(), strict=True)}
    return Dataset(name, specs, tuple(mirrors))


class Server:
    """A threaded HTTP server for `files` (name -> bytes); `truncate`d names stop halfway."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.truncate, self.hits = dict(files), set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.hits.append(name)
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.truncate:
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No SCRATCHDL_DATA, an empty private cache and Debian folder: only downloads can help."""
    monkeypatch.delenv("SCRATCHDL_DATA", raising=False)
    monkeypatch.delenv("SCRATCHDL_MIRRORS", raising=False)
    monkeypatch.setenv("SCRATCHDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(scratchdl.data.locations, "DEBIAN_DIR", tmp_path / "debian")
    return tmp_path / "cache"


@pytest.fixture
def served():
    files = {n + ".gz": gzip.compress(b) for n, b in tiny_files().items()}
    server = Server(files)
    yield server, tiny_files()
    server.close()


def cached_names(cache: Path, name: str = "tiny") -> list[str]:
    folder = cache / name
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_then_load_from_cache(isolated, served, capsys):
    server, files = served
    ds = tiny_dataset(files, [server.url])
    (x, t), (xt, tt) = load_mnist(dataset=ds, progress=False)
    assert x.shape == (20, 784) and x.dtype == np.float32 and xt.shape == (10, 784)
    np.testing.assert_array_equal(t, np.arange(20) % 10)
    assert cached_names(isolated) == sorted(n + ".gz" for n in files)
    assert len(server.hits) == 4
    assert capsys.readouterr().err == ""
    load_mnist(dataset=ds, progress=False)
    assert len(server.hits) == 4  # the second load downloads nothing


def test_a_dead_downloads_leftover_goes_with_the_next_download(isolated, served):
    server, files = served
    folder = isolated / "tiny"
    folder.mkdir(parents=True)
    dead, busy = folder / ".t10k-labels-idx1-ubyte.gz.k1ll3d.part", folder / ".t10k.gz.x.part"
    for leftover in (dead, busy):
        leftover.write_bytes(b"partial")
    then = time.time() - STALE_AFTER_S - 60
    os.utime(dead, (then, then))
    os.utime(busy, (then, then))
    load_mnist(dataset=tiny_dataset(files, [server.url]), progress=False)
    assert not dead.exists()
    assert busy.exists()  # not the leftover of a file this download wrote
    assert cached_names(isolated) == sorted([busy.name] + [n + ".gz" for n in files])


def test_progress_bar_on_request(isolated, served, capsys):
    server, files = served
    load_mnist(dataset=tiny_dataset(files, [server.url]), progress=True)
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz: 100%" in err and "t10k-labels-idx1-ubyte.gz: 100%" in err


def test_checksum_mismatch_leaves_nothing(isolated, served):
    server, files = served
    wrong = dict(files)
    wrong["train-images-idx3-ubyte"] = tiny_files(seed=1)["train-images-idx3-ubyte"]
    ds = tiny_dataset(wrong, [server.url, server.url])
    with pytest.raises(DownloadError, match="checksum mismatch") as e:
        load_mnist(dataset=ds, progress=False)
    assert "train-images-idx3-ubyte.gz" in str(e.value) and "\n" not in str(e.value)
    assert cached_names(isolated) == []
    assert not (isolated / "npz").exists()


@pytest.mark.parametrize("first", ["dead", "404"])
def test_first_mirror_down_second_used(isolated, served, first):
    server, files = served
    bad = dead_url() if first == "dead" else server.url + "missing/"
    (x, _), _ = load_mnist(dataset=tiny_dataset(files, [bad, server.url]), progress=False)
    assert x.shape == (20, 784)
    assert len(cached_names(isolated)) == 4


def test_all_mirrors_down_gives_manual_steps(isolated):
    ds = tiny_dataset(tiny_files(), [dead_url(), dead_url()])
    with pytest.raises(DownloadError) as e:
        load_mnist(dataset=ds, progress=False)
    msg = str(e.value)
    for part in ["cannot connect", "by hand", ds.mirrors[0] + "train-images-idx3-ubyte.gz",
                 ds.mirrors[1], str(isolated / "tiny"), "data_dir", "SCRATCHDL_DATA"]:
        assert part in msg
    assert "\n" not in msg and cached_names(isolated) == []


def test_fashion_manual_steps_mention_apt_and_env_mirrors(isolated, monkeypatch):
    url = dead_url()
    monkeypatch.setenv("SCRATCHDL_MIRRORS", url)
    with pytest.raises(DownloadError, match="apt install dataset-fashion-mnist") as e:
        load_mnist(dataset="fashion-mnist", progress=False)
    assert url + "train-images-idx3-ubyte.gz" in str(e.value)
    assert "amazonaws" not in str(e.value)


def test_interrupted_download_is_never_taken_for_data(isolated, served):
    server, files = served
    ds = tiny_dataset(files, [server.url])
    server.truncate.add("train-images-idx3-ubyte.gz")
    with pytest.raises(DownloadError, match="interrupted|damaged"):
        load_mnist(dataset=ds, progress=False)
    assert "train-images-idx3-ubyte.gz" not in cached_names(isolated)
    # A crash mid-download would leave a hidden temp file; it must be ignored.
    (isolated / "tiny" / ".train-images-idx3-ubyte.gz.abc123.part").write_bytes(b"\x1f\x8b")
    server.truncate.clear()
    (x, _), _ = load_mnist(dataset=ds, progress=False)
    assert x.shape == (20, 784)
    assert "train-images-idx3-ubyte.gz" in cached_names(isolated)


def test_partial_cache_downloads_only_the_missing_files(isolated, served):
    server, files = served
    ds = tiny_dataset(files, [server.url])
    folder = isolated / "tiny"
    folder.mkdir(parents=True)
    (folder / "train-labels-idx1-ubyte").write_bytes(files["train-labels-idx1-ubyte"])
    load_mnist(dataset=ds, progress=False)
    assert sorted(server.hits) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                                   "train-images-idx3-ubyte.gz"]


def test_real_size_mnist_download(mnist_dir, isolated):
    server = Server({p.name: p.read_bytes() for p in mnist_dir.glob("*.gz")})
    try:
        (x, t), (xt, tt) = load_mnist(dataset=Dataset(
            "mnist", DATASETS["mnist"].files, (dead_url(), server.url)), progress=False)
    finally:
        server.close()
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert np.bincount(tt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_cli_download(isolated, served, monkeypatch, capsys, tmp_path):
    server, files = served
    monkeypatch.setitem(DATASETS, "tiny", tiny_dataset(files))
    assert main(["data", "download", "--dataset", "tiny", "--mirror", server.url]) == 0
    assert "downloaded, verified" in capsys.readouterr().out
    assert main(["data", "download", "--dataset", "tiny", "--mirror", dead_url()]) == 0
    assert "already present, verified" in capsys.readouterr().out
    assert main(["data", "info", "--dataset", "tiny"]) == 0
    assert "via the cache" in capsys.readouterr().out
    monkeypatch.setenv("SCRATCHDL_MIRRORS", server.url)
    assert main(["data", "download", "--dataset", "tiny", "--data-dir", str(tmp_path / "d")]) == 0
    assert len(cached_names(tmp_path / "d")) == 4


def test_cli_download_failure_is_one_line(isolated, capsys):
    assert main(["data", "download", "--mirror", dead_url()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scratchdl: error: could not download") and err.count("\n") == 1
