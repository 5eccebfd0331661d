"""The project's own errors: each carries the exit status the command line uses."""

from __future__ import annotations


class ScratchdlError(Exception):
    """An error with a one-line message saying what is wrong and how to fix it."""

    exit_code = 1


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
    """Training produced a NaN or infinite loss."""


def one_line(error: ScratchdlError | MemoryError) -> tuple[str, int]:
    """What the command line says of an error (after `scratchdl: error: `), and its exit status."""
    if isinstance(error, MemoryError):  # e.g. --hidden 100000000, or a recipe asking as much
        return f"not enough memory ({error}); use smaller sizes or batches", 1
    return str(error), error.exit_code
