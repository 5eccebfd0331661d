"""`scratchdl.data.book_weights` and `scratchdl data book-weights`: the book's published
parameters found where the data is, or downloaded (from a local server here) and verified."""

from __future__ import annotations

import hashlib

import pytest
from helpers import run_cli
from test_data_download import Server, dead_url

from scratchdl.data import BOOK_WEIGHTS
from scratchdl.data import book_weights as find  # the fixture `book_weights` is the folder
from scratchdl.runtime.errors import DataError, DownloadError, UsageError


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No SCRATCHDL_DATA and an empty cache: only a download can help."""
    monkeypatch.delenv("SCRATCHDL_DATA", raising=False)
    monkeypatch.setenv("SCRATCHDL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "book-weights"


@pytest.fixture
def served(book_weights):
    """The book's three files at their paths in the book's repository, on 127.0.0.1."""
    server = Server({w.upstream: (book_weights / name).read_bytes()
                     for name, w in BOOK_WEIGHTS.items()})
    yield server
    server.close()


def test_the_shared_copies_are_the_registered_ones(book_weights):
    for name, w in BOOK_WEIGHTS.items():
        assert hashlib.sha256((book_weights / name).read_bytes()).hexdigest() == w.sha256


def test_found_under_scratchdl_data(book_weights, monkeypatch):
    monkeypatch.setenv("SCRATCHDL_DATA", str(book_weights.parent))
    for name in BOOK_WEIGHTS:
        assert find(name) == book_weights / name


def test_downloaded_into_the_cache_once(isolated, served, book_weights):
    name = "ch03_sample_weight.pkl"
    path = find(name, mirrors=[served.url])
    assert path == isolated / name
    assert path.read_bytes() == (book_weights / name).read_bytes()
    assert served.hits == ["ch03/sample_weight.pkl"]
    assert find(name, mirrors=[served.url]) == path
    assert served.hits == ["ch03/sample_weight.pkl"]
    assert sorted(p.name for p in isolated.iterdir()) == [name]


def test_a_copy_that_does_not_verify_is_not_kept(isolated, served, book_weights):
    served.files["ch07/params.pkl"] = b"not the book's file"
    with pytest.raises(DownloadError, match="ch07/params.pkl: checksum mismatch") as info:
        find("ch07_simple_convnet_params.pkl", mirrors=[served.url])
    assert "\n" not in str(info.value) and "by hand" in str(info.value)
    assert list(isolated.iterdir()) == []


def test_a_truncated_download_is_not_kept(isolated, served):
    served.truncate.add("ch08/deep_convnet_params.pkl")
    with pytest.raises(DownloadError):
        find("ch08_deep_convnet_params.pkl", mirrors=[served.url])
    assert list(isolated.iterdir()) == []


def test_the_second_mirror_serves_when_the_first_is_down(isolated, served):
    path = find("ch08_deep_convnet_params.pkl", mirrors=[dead_url(), served.url])
    assert path.is_file() and served.hits == ["ch08/deep_convnet_params.pkl"]


def test_every_mirror_down_gives_the_manual_steps(isolated):
    with pytest.raises(DownloadError, match="cannot connect") as info:
        find("ch03_sample_weight.pkl", mirrors=[dead_url()])
    message = str(info.value)
    assert "deep-learning-from-scratch/master/ch03/sample_weight.pkl" in message
    assert "SCRATCHDL_DATA" in message


def test_a_damaged_local_copy_is_named(tmp_path, monkeypatch):
    (tmp_path / "book-weights").mkdir()
    (tmp_path / "book-weights" / "ch03_sample_weight.pkl").write_bytes(b"garbage")
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path))
    with pytest.raises(DataError, match="is not the book's ch03/sample_weight.pkl"):
        find("ch03_sample_weight.pkl")


def test_unknown_name():
    with pytest.raises(UsageError, match="unknown book file 'params.pkl'"):
        find("params.pkl")


def test_cli_lists_the_files_and_the_import_commands(isolated, served, capsys):
    code, out, err = run_cli(["data", "book-weights", "--mirror", served.url], capsys)
    assert code == 0, err
    for name, w in BOOK_WEIGHTS.items():
        assert f"{name}: {isolated / name}  verified" in out
        assert f"scratchdl import-book {isolated / name} --model {w.model} " in out


def test_cli_failure_is_one_line(isolated, capsys):
    code, out, err = run_cli(["data", "book-weights", "--mirror", dead_url()], capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "could not download" in err
