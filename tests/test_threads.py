"""BLAS thread limits, and parallel_map: order, thread counts, the same bits on any count."""

import multiprocessing
import threading
import time

import numpy as np
import pytest
from helpers import default_blas_threads
from threadpoolctl import threadpool_info

from scratchdl.engines.convolution import FastConvolution
from scratchdl.engines.pooling import FastPooling
from scratchdl.runtime.errors import UsageError
from scratchdl.runtime.threads import blas_threads, parallel_map, workers


def blas_counts() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_limit_and_restore():
    before = blas_counts()
    with blas_threads(1):
        assert all(n == 1 for n in blas_counts())
    assert blas_counts() == before
    with blas_threads(None):
        assert blas_counts() == before
    assert default_blas_threads() >= 1


def test_parallel_map_keeps_order_and_runs_on_its_threads(monkeypatch):
    monkeypatch.setenv("SCRATCHDL_NUM_THREADS", "3")
    names = parallel_map(lambda i: (i, threading.current_thread().name), list(range(10)))
    assert [i for i, _ in names] == list(range(10))
    here = threading.current_thread().name
    assert [name for _, name in names[:3]] == [here] * 3  # the first run: the caller's
    assert all(name.startswith("scratchdl_") for _, name in names[3:])
    assert parallel_map(lambda i: i, []) == []


def test_a_failing_run_waits_for_the_others(monkeypatch):
    monkeypatch.setenv("SCRATCHDL_NUM_THREADS", "2")
    finished = []

    def fn(i):
        if i == 0:
            raise ValueError("first run fails")
        time.sleep(0.05)
        finished.append(i)

    with pytest.raises(ValueError, match="first run fails"):
        parallel_map(fn, [0, 1])
    assert finished == [1]


def test_parallel_map_holds_blas_to_one_thread(monkeypatch):
    monkeypatch.setenv("SCRATCHDL_NUM_THREADS", "2")
    assert parallel_map(lambda _: blas_counts(), [0, 1]) == [[1] * len(blas_counts())] * 2


def test_one_worker_runs_in_the_calling_thread(monkeypatch):
    monkeypatch.setenv("SCRATCHDL_NUM_THREADS", "1")
    assert workers() == 1
    here = threading.current_thread()
    assert parallel_map(lambda _: threading.current_thread(), [0, 1]) == [here, here]


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_thread_count_is_a_usage_error(monkeypatch, value):
    monkeypatch.setenv("SCRATCHDL_NUM_THREADS", value)
    with pytest.raises(UsageError, match="SCRATCHDL_NUM_THREADS must be a positive integer"):
        workers()


@pytest.mark.parametrize("stride, pad", [(1, 1), (1, 2), (2, 1)])
def test_convolution_gives_the_same_bits_on_any_number_of_threads(monkeypatch, stride, pad,
                                                                   columns):
    """The chunks' shares of dW are added in chunk order, whichever thread made them."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((13, 3, 9, 9)).astype(np.float32)
    W = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    runs = []
    for threads in ["1", "2", "5"]:
        monkeypatch.setenv("SCRATCHDL_NUM_THREADS", threads)
        conv = FastConvolution(W, np.ones(4, np.float32), stride, pad, chunk_bytes=4096,
                               rows_min_k=columns)  # many chunks
        out = conv.forward(x)
        dx = conv.backward(np.cos(out))
        runs.append((out, dx, conv.grads["W"], conv.grads["b"]))
    for run in runs[1:]:
        for a, b in zip(runs[0], run, strict=True):
            np.testing.assert_array_equal(a, b)


def test_pooling_gives_the_same_bits_on_any_number_of_threads(monkeypatch):
    """Each thread pools its own share of the images; the shares meet nowhere."""
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((7, 3, 8, 6)).astype(np.float32), 0)  # ties at 0
    runs = []
    for threads in ["1", "2", "5"]:
        monkeypatch.setenv("SCRATCHDL_NUM_THREADS", threads)
        pool = FastPooling(2, 2, stride=2)
        out = pool.forward(x)
        runs.append((out, pool.backward(np.cos(out))))
    for run in runs[1:]:
        for a, b in zip(runs[0], run, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_forked_child_starts_its_own_pool(monkeypatch):
    monkeypatch.setenv("SCRATCHDL_NUM_THREADS", "2")
    parallel_map(abs, [-1, -2])  # the parent's pool now exists
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply(parallel_map, (abs, [-3, -4])) == [3, 4]
