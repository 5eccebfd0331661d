"""Threads: BLAS's own, and ours for work split by batch.

A training step of a small fully connected network multiplies matrices of a few
million entries; splitting each across threads costs more than it saves, and on
a busy machine a second BLAS thread waiting for a core makes every step many
times slower. `blas_threads(n)` limits the threads of NumPy's BLAS inside a
`with` block (through threadpoolctl) and restores them after.

A convolution works through its batch in cache-sized chunks, each too small for
BLAS to split well. `parallel_map` hands contiguous runs of chunks to one thread
per CPU instead: NumPy releases the GIL inside its copies and matrix products,
so the runs proceed on all cores at once.

`in_background` runs one task at a time on a thread of its own: the trainer
evaluates a snapshot of a small network there while the steps, which use one
core, go on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from threadpoolctl import ThreadpoolController

from scratchdl.runtime.errors import UsageError

T = TypeVar("T")
R = TypeVar("R")

_controller: ThreadpoolController | None = None
_pool: ThreadPoolExecutor | None = None
_background: ThreadPoolExecutor | None = None


def controller() -> ThreadpoolController:
    """The process's one view of its thread pools, made on first use."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most `n` BLAS threads (no change when n is None)."""
    if n is None:
        yield
        return
    with controller().limit(limits=n, user_api="blas"):
        yield


def workers() -> int:
    """Threads for `parallel_map`: $SCRATCHDL_NUM_THREADS, else the CPUs we may run on."""
    value = os.environ.get("SCRATCHDL_NUM_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"SCRATCHDL_NUM_THREADS must be a positive integer, got {value!r}")
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it starts pools of its own."""
    global _pool, _background
    _pool = _background = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def even_slices(n: int, parts: int) -> list[slice]:
    """range(n) cut into `parts` contiguous slices whose lengths differ by at most one."""
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[fn(item) for item in items]`, contiguous runs of items on parallel threads.

    The caller's thread takes the first run and the pool's threads the others;
    BLAS is held to one thread meanwhile, so the runs do not oversubscribe the
    cores. Results come back in the order of `items`, whatever the number of
    threads; if a run fails, the others are waited for before the error rises.
    """
    global _pool
    k = min(workers(), len(items))
    if k <= 1:
        return [fn(item) for item in items]
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="scratchdl")
    runs = [items[part] for part in even_slices(len(items), k)]

    def run_all(run: Sequence[T]) -> list[R]:
        return [fn(item) for item in run]

    with blas_threads(1):
        others = [_pool.submit(run_all, run) for run in runs[1:]]
        try:
            first = run_all(runs[0])
        finally:
            wait(others)
        done = [first] + [future.result() for future in others]
    return [result for run in done for result in run]


def in_background(fn: Callable[..., R], *args) -> Future[R]:
    """Run `fn(*args)` on the one background thread, beside the caller's work."""
    global _background
    if _background is None:
        _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scratchdl-background")
    return _background.submit(fn, *args)
