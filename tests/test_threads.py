"""BLAS thread limits apply inside the block and are restored after it."""

from threadpoolctl import threadpool_info

from scratchdl.threads import blas_threads, default_blas_threads


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
