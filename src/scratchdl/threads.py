"""BLAS threads: small matrix products run faster on one thread.

A training step of a small fully connected network multiplies matrices of a few
million entries; splitting each across threads costs more than it saves, and on
a busy machine a second BLAS thread waiting for a core makes every step many
times slower. `blas_threads(n)` limits the threads of NumPy's BLAS inside a
`with` block (through threadpoolctl) and restores them after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController

_controller: ThreadpoolController | None = None


def controller() -> ThreadpoolController:
    """The process's one view of its thread pools, made on first use."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def default_blas_threads() -> int:
    """How many threads BLAS uses when nothing limits it (1 if there is no BLAS)."""
    pools = controller().select(user_api="blas").info()
    return max((p["num_threads"] for p in pools), default=1)


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most `n` BLAS threads (no change when n is None)."""
    if n is None:
        yield
        return
    with controller().limit(limits=n, user_api="blas"):
        yield
