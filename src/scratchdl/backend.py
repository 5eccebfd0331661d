"""The array-module seam: every layer computes with `xp`, which is NumPy or CuPy.

Only this file imports CuPy. `use_gpu()` switches the whole package to CuPy;
`to_numpy(a)` brings any array back to the host (for saving, plotting, printing).
"""

from __future__ import annotations

import types

import numpy as np


class _ArrayModule:
    """Forwards attribute access to the active array module (numpy or cupy)."""

    def __init__(self) -> None:
        self.module: types.ModuleType = np

    def __getattr__(self, name: str):
        return getattr(self.module, name)


xp = _ArrayModule()


def use_gpu() -> None:
    """Compute with CuPy from now on; raise a clear error if it is not installed."""
    try:
        import cupy
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "the GPU backend needs CuPy: install it with `pip install scratchdl[gpu]`"
        ) from e
    xp.module = cupy


def use_cpu() -> None:
    """Compute with NumPy (the default)."""
    xp.module = np


def on_gpu() -> bool:
    """True when the active array module is CuPy."""
    return xp.module is not np


def asarray(a, dtype=None):
    """Move a host array to the active device (a no-op for NumPy)."""
    return xp.asarray(a, dtype=dtype)


def to_numpy(a) -> np.ndarray:
    """Return `a` as a NumPy array on the host."""
    if isinstance(a, np.ndarray) or np.isscalar(a):
        return np.asarray(a)
    return a.get()
