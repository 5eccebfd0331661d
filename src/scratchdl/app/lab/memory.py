"""The lab server's memory while runs come and go.

glibc's malloc serves large arrays from mappings of their own, returned to the system when
freed; but each time such an array is freed it raises that threshold (up to 32 MiB), so a
process that frees many arrays ends up serving them from its per-thread heaps, where runs
that come and go leave them fragmented. With the threshold fixed at 4 MiB, the runs'
batches and activations still come from the heaps (no system call per step), the data
sets and anything larger from mappings; the server then holds less memory and its threads
allocate faster (`benchmarks/lab_load.py` measures both).
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3
"""glibc's mallopt parameter for the threshold (malloc.h)."""


def keep_large_arrays_mapped(threshold: int = 4 * 2**20) -> bool:
    """Fix malloc's mmap threshold at `threshold` bytes, which stops it from sliding; True if
    the C library took it (glibc), False elsewhere (nothing changes)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
