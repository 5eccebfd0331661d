"""A strict stand-in for CuPy: NumPy's arithmetic, on arrays that stay "on the device".

CI has no GPU. This module has CuPy's shape - an array module with NumPy's API
(`strict_xp.zeros`, `strict_xp.add.at`, `strict_xp.lib.stride_tricks`, ...) whose
arrays are not NumPy's - and CuPy's strictness, so that every host/device mix-up
the GPU would hit fails on the CPU first:

- `np.asarray(a)`, `np.array(a)`, `__array__`: TypeError (CuPy's message), as is
  anything NumPy can only do by converting (`np.nditer`, `np.testing` on `a`);
- an operation mixing a device array with a NumPy array (or a list) - operators,
  ufuncs, functions, `a[np_index]`, `a[...] = np_array`: TypeError;
- a device array where Python needs an int (`range(a)`, `list[a]`, `a[:n]` with n
  a device scalar): TypeError, as CuPy's arrays have no `__index__`;
- `np.add.at(a, ...)` and NumPy's other ufunc methods on device arrays: TypeError
  (`strict_xp.add.at` is the device's own);
- `float(a)`, `int(a)`, `bool(a)`, `format(a)` of anything but a 0-d array: TypeError.

Reductions and integer indexing return 0-d device arrays, as CuPy's do (never NumPy
scalars), and `a[i, j]` is a view of `a`, as on CuPy. `a.get()` (which
`scratchdl.runtime.backend.to_numpy` calls) is the way back to the host; `strict_xp.asarray`
and `strict_xp.array` the way there. It is stricter than CuPy in places: CuPy copies
a NumPy index array or `a[:] = np_array` to the device silently; here those fail,
so that every move in the package is one `asarray` you can see.

`cuda.runtime.getDeviceCount()` answers `cuda.DEVICES` (1), so `scratchdl --device
gpu` can run on this module in tests that put it in `sys.modules["cupy"]`.
"""

from __future__ import annotations

import types
from numbers import Number

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

HOST_CONVERSION = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                   "to construct a NumPy array explicitly.")


class StrictArray(NDArrayOperatorsMixin):
    """A "device" array: a NumPy array inside, reachable only through `get()`."""

    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, array: np.ndarray) -> None:
        self._a = array

    # -- the ways back to the host, and the implicit ones refused --------------------
    def get(self) -> np.ndarray:
        return self._a.copy()

    def __array__(self, dtype=None, copy=None):
        raise TypeError(HOST_CONVERSION)

    def _scalar(self, what: str):
        if self._a.ndim:
            raise TypeError(f"{what}() of a device array of shape {self._a.shape}: only 0-d "
                            "arrays convert to Python numbers; bring it back with to_numpy")
        return self._a[()]

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __complex__(self) -> complex:
        return complex(self._scalar("complex"))

    def __bool__(self) -> bool:
        return bool(self._scalar("bool"))

    def __format__(self, spec: str) -> str:
        return format(self._scalar("format"), spec)

    def __repr__(self) -> str:
        return f"strict_xp.{self._a!r}"

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    # -- attributes ----------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self._a)))

    def __getattr__(self, name: str):
        """Every other method of NumPy's arrays (reshape, sum, astype, ...), on the device."""
        if name.startswith("__"):
            raise AttributeError(name)
        attribute = getattr(self._a, name)
        if callable(attribute):
            return _on_device(attribute, f"ndarray.{name}")
        return _wrap(attribute)

    # -- indexing --------------------------------------------------------------------
    def __getitem__(self, key):
        key = _unwrap(key, "indexing")
        out = self._a[key]
        if not isinstance(out, np.ndarray):  # an element: a 0-d view, as CuPy's
            out = self._a[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
        return StrictArray(out)

    def __setitem__(self, key, value) -> None:
        self._a[_unwrap(key, "indexing")] = _unwrap(value, "assignment")

    # -- NumPy's protocols: device arrays only ---------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            raise TypeError(f"numpy.{ufunc.__name__}.{method} on a device array: CuPy's "
                            f"arrays refuse NumPy's ufunc methods; use xp.{ufunc.__name__}."
                            f"{method}")
        what = f"numpy.{ufunc.__name__}"
        for x in inputs:
            if not isinstance(x, (StrictArray, Number, np.generic)):
                raise TypeError(f"{what}: unsupported operand {type(x).__name__} beside a "
                                "device array; move it with scratchdl.runtime.backend.asarray")
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_unwrap(inputs, what), **_unwrap(kwargs, what))
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        what = f"numpy.{func.__name__}"
        return _wrap(func(*_unwrap(args, what), **_unwrap(kwargs, what)))


def _unwrap(value, what: str):
    """Device arrays to their NumPy insides, through tuples, lists and dicts; a NumPy
    array here is a host array mixed into device work: refused."""
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"{what}: a NumPy (host) array mixed with device arrays; move it "
                        "with scratchdl.runtime.backend.asarray")
    if isinstance(value, (tuple, list)):
        return type(value)(_unwrap(v, what) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, what) for k, v in value.items()}
    return value


def _wrap(value):
    """NumPy results as device arrays (scalars as 0-d arrays, as CuPy returns them)."""
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):
        return StrictArray(np.asarray(value))
    if isinstance(value, (tuple, list)):
        return type(value)(_wrap(v) for v in value)
    return value


def _on_device(fn, what: str):
    """`fn` on device arrays: NumPy arrays among its arguments are refused."""
    def device_fn(*args, **kwargs):
        return _wrap(fn(*_unwrap(args, what), **_unwrap(kwargs, what)))

    device_fn.__name__ = getattr(fn, "__name__", what)
    return device_fn


class StrictUfunc:
    """A NumPy ufunc on device arrays, with CuPy's methods (`add.at`, `add.reduceat`,
    `maximum.reduce`)."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self.ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return self._method("__call__", args, kwargs)

    def _method(self, method: str, args, kwargs):
        what = f"strict_xp.{self.__name__}"
        for x in args:
            if not isinstance(x, (StrictArray, Number, np.generic, tuple, slice)):
                raise TypeError(f"{what}: unsupported operand {type(x).__name__}; device "
                                "arrays and numbers only")
        fn = self.ufunc if method == "__call__" else getattr(self.ufunc, method)
        out = kwargs.get("out")
        result = fn(*_unwrap(args, what), **_unwrap(kwargs, what))
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(result)

    def at(self, a, indices, b=None) -> None:
        if not isinstance(a, StrictArray):
            raise TypeError(f"strict_xp.{self.__name__}.at needs a device array, got "
                            f"{type(a).__name__}")
        what = f"strict_xp.{self.__name__}.at"
        args = (indices,) if b is None else (indices, b)
        self.ufunc.at(a._a, *_unwrap(args, what))

    def reduce(self, *args, **kwargs):
        return self._method("reduce", args, kwargs)

    def reduceat(self, *args, **kwargs):
        return self._method("reduceat", args, kwargs)


def _as_strided(x, shape=None, strides=None):
    return StrictArray(np.lib.stride_tricks.as_strided(x._a, shape, strides))


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))
ndarray = StrictArray

DEVICES = 1
"""What `cuda.runtime.getDeviceCount()` answers; tests set 0 for a machine without a GPU."""
cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
    getDeviceCount=lambda: DEVICES))


def asarray(a, dtype=None):
    """To the device: a copy of a host array (as CuPy's), a device array itself."""
    if isinstance(a, StrictArray):
        return a if dtype is None or a.dtype == dtype else StrictArray(a._a.astype(dtype))
    return StrictArray(np.array(a, dtype=dtype))


def array(a, dtype=None, copy=True):
    if isinstance(a, StrictArray):
        return StrictArray(a._a.astype(dtype or a.dtype, copy=copy))
    return StrictArray(np.array(a, dtype=dtype))


_names: dict = {}


def __getattr__(name: str):
    """NumPy's names, on device arrays: ufuncs, functions, dtypes and constants."""
    if name not in _names:
        attribute = getattr(np, name)
        if isinstance(attribute, np.ufunc):
            attribute = StrictUfunc(attribute)
        elif callable(attribute) and not isinstance(attribute, type):
            attribute = _on_device(attribute, f"strict_xp.{name}")
        _names[name] = attribute
    return _names[name]
