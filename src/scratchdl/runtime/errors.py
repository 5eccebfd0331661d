"""The project's own errors: each carries the exit status the command line uses.

A message names the argument that would fix it as `${lr}`, or with the value to try as
`${lr:0.01}`. The library spells these as Python arguments (`lr`, `lr=0.01`); the command
line, which knows its flags, spells them as flags (`--lr 0.01`) by `spelling_arguments`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

ARGUMENT = re.compile(r"\$\{(\w+)(?::([^}]*))?\}")
"""`${name}` or `${name:value}` in a message."""

PACKAGES = {"gpu": 'pip install "cupy-cuda13x[ctk]" (for CUDA 12: "cupy-cuda12x[ctk]")',
            "mpi": "pip install mpi4py mpich", "web": "pip install starlette uvicorn"}
"""What `${extra:NAME}` asks for: the packages of an optional feature."""


def as_argument(name: str, value: str | None) -> str:
    """How the library names an argument: `lr`, or `lr=0.01` with a value to try; an
    optional feature (`extra`) by its packages, a run to resume by `load_checkpoint`."""
    if name == "extra":
        return PACKAGES[value]
    if name == "resume":
        return f"load_checkpoint(trainer, {value!r})"
    return name if value is None else f"{name}={value}"


_spell: Callable[[str, str | None], str] = as_argument


@contextlib.contextmanager
def spelling_arguments(spell: Callable[[str, str | None], str]) -> Iterator[None]:
    """Spell the arguments of every message with `spell(name, value)` inside the block."""
    global _spell
    previous, _spell = _spell, spell
    try:
        yield
    finally:
        _spell = previous


def render(message: str) -> str:
    """`message` with its `${...}` arguments spelled."""
    return ARGUMENT.sub(lambda m: _spell(m.group(1), m.group(2)), message)


class ScratchdlError(Exception):
    """An error with a one-line message saying what is wrong and how to fix it."""

    exit_code = 1

    def __str__(self) -> str:
        return render(super().__str__())


class UsageError(ScratchdlError, ValueError):
    """A bad argument or combination of arguments (exit status 2)."""

    exit_code = 2


class DataError(ScratchdlError):
    """Missing, truncated, corrupt or unverifiable data files (exit status 1)."""


class DownloadError(DataError):
    """Every mirror failed, or a download did not verify (exit status 1)."""


class ModelFileError(ScratchdlError):
    """A model, checkpoint or weights file that is not one of ours, or is damaged."""


class ImageError(ScratchdlError):
    """An input image that cannot be read as an image."""


class DivergenceError(ScratchdlError):
    """Training produced a NaN or infinite loss, or a loss far above where it started."""


def one_line(error: ScratchdlError | MemoryError) -> tuple[str, int]:
    """What the command line says of an error (after `scratchdl: error: `), and its exit status."""
    if isinstance(error, MemoryError):  # e.g. hidden layers of 10**8 units
        return f"not enough memory ({error}); use smaller sizes or batches", 1
    return str(error), error.exit_code
