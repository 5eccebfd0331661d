"""The array-module seam: every layer computes with `xp`, which is NumPy or CuPy.

Only this file imports CuPy. `use_device("gpu")` switches the whole package to
CuPy, once it has checked that CuPy can run on a CUDA device; `asarray(a)` moves an
array to the active device and `to_numpy(a)` brings one back to the host (for
saving, plotting, printing). Nothing else moves arrays between the two: CuPy
refuses implicit moves, and the tests run the package on a strict stand-in that
refuses them the same way (`tests/strict_xp.py`, plugged in with `use_module`).
"""

from __future__ import annotations

import math
import types

import numpy as np

from scratchdl.runtime.errors import UsageError

DEVICES = ("cpu", "gpu")
"""The devices: NumPy on the host, or CuPy on the current CUDA device."""


class _ArrayModule:
    """Forwards attribute access to the active array module (numpy or cupy).

    Each name is looked up in the module once and then kept, so `xp.exp` costs what
    `np.exp` does (a training step reads about 15 of them); `use` forgets them.
    """

    def __init__(self) -> None:
        self.use(np)

    def use(self, module: types.ModuleType) -> None:
        """Forward to `module` from now on."""
        self.__dict__.clear()
        self.module = module

    def __getattr__(self, name: str):
        value = getattr(self.module, name)
        setattr(self, name, value)
        return value


xp = _ArrayModule()


def use_device(device: str) -> None:
    """Compute on 'cpu' (NumPy) or 'gpu' (CuPy); a UsageError says why not."""
    if device not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "gpu":
        use_gpu()
    else:
        use_cpu()


def use_gpu() -> None:
    """Compute with CuPy from now on, after checking that it runs on a CUDA device."""
    try:
        import cupy
    except ImportError:
        raise UsageError("${device:gpu} needs CuPy, which is not installed: ${extra:gpu}"
                         ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError: no driver, or no device it can use
        raise UsageError(f"${{device:gpu}}: CuPy finds no CUDA device ({_first_line(e)}); "
                         "use ${device:cpu}") from None
    if count < 1:
        raise UsageError("${device:gpu}: CuPy finds no CUDA device; use ${device:cpu}")
    try:  # compiles and runs one kernel: CUDA's libraries are there and match the driver
        float((cupy.arange(3, dtype=cupy.float32) * 2).sum())
    except Exception as e:
        raise UsageError(f"${{device:gpu}}: CuPy cannot run on the GPU ({_first_line(e)}); "
                         "check the CUDA version against ${extra:gpu}") from None
    use_module(cupy)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def use_cpu() -> None:
    """Compute with NumPy (the default)."""
    xp.use(np)


def use_module(module) -> None:
    """Compute with `module`, an array module with NumPy's API whose arrays have
    `.get()` (CuPy, or the tests' strict stand-in for it)."""
    xp.use(module)


def on_gpu() -> bool:
    """True when the active array module is not NumPy: arrays live on a device."""
    return xp.module is not np


def asarray(a, dtype=None):
    """Move a host array to the active device (a no-op for NumPy)."""
    return xp.asarray(a, dtype=dtype)


def to_numpy(a) -> np.ndarray:
    """Return `a` as a NumPy array on the host."""
    if isinstance(a, np.ndarray) or np.isscalar(a):
        return np.asarray(a)
    return a.get()


SPLITMIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9),
            np.uint64(0x94D049BB133111EB))
"""SplitMix64's increment and its two multipliers (Steele, Lea & Flood, 2014)."""


def random(rng: np.random.Generator, shape: tuple[int, ...]):
    """Uniform numbers in [0, 1) of `shape` on the active device, drawn from `rng`.

    On NumPy they are `rng.random(shape)`, the run's own stream. On a device they
    are made there, without a copy from the host: SplitMix64's output for the
    states seed + k * increment, k = 1..n, all at once, from one seed drawn from
    `rng` (so the run's seed still fixes them, and a checkpoint of `rng` resumes them).
    """
    if not on_gpu():
        return rng.random(shape)
    gamma, m1, m2 = SPLITMIX
    seed = np.uint64(rng.integers(2**63))
    z = xp.arange(1, math.prod(shape) + 1, dtype=xp.uint64) * gamma + seed
    z = (z ^ (z >> np.uint64(30))) * m1
    z = (z ^ (z >> np.uint64(27))) * m2
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)) * 2.0**-53).reshape(shape)
