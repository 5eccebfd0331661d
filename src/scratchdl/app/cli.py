"""The `scratchdl` command: one subcommand per module in `scratchdl.app.commands`.

Every error the project raises becomes one line on stderr and an exit status
(2 for bad arguments, 1 for bad files or failed work); no tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from scratchdl import __version__
from scratchdl.runtime.backend import use_device
from scratchdl.runtime.distributed import fail_at_start
from scratchdl.runtime.errors import ScratchdlError, one_line, spelling_arguments

COMMANDS = ["train", "evaluate", "predict", "data", "experiment", "gradcheck", "show",
            "import_book", "serve", "lab"]
"""Modules of `scratchdl.app.commands`, each with `add_parser(subparsers)`."""

EXTRAS = {"gpu": 'pip install -e ".[gpu]" (CuPy for CUDA 13; for CUDA 12: '
                 'pip install "cupy-cuda12x[ctk]")',
          "mpi": 'pip install -e ".[mpi]" (mpi4py and MPICH)',
          "web": 'pip install -e ".[web]"'}
"""How to install an optional feature, from the checkout the README installs."""


def as_flag(name: str, value: str | None) -> str:
    """An argument named in an error message, as its flag: batch_size -> `--batch-size`, with
    a value to try `--lr 0.01`; an optional feature by its install command."""
    if name == "extra":
        return EXTRAS[value]
    if name == "resume" and value is not None:
        return f"`scratchdl train --resume {value}`"
    flag = "--" + name.replace("_", "-")
    return flag if value is None else f"{flag} {value}"


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors reduced to one line and exit status 2."""

    def error(self, message: str):
        fail_at_start(f"{message} (see `{self.prog} --help`)")  # under mpiexec: one line
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scratchdl",
        description="Deep Learning from Scratch, as real software: the book's networks "
        "trained on real MNIST from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"scratchdl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"scratchdl.app.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        with spelling_arguments(as_flag):
            return run(argv)
    except BrokenPipeError:  # the reader went away (`scratchdl ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def run(argv: list[str] | None) -> int:
    """Parse the command line and run the subcommand, its errors as one line each."""
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "device"):
            use_device(args.device)
        return args.func(args) or 0
    except (ScratchdlError, MemoryError) as e:
        message, status = one_line(e)
        print(f"scratchdl: error: {message}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        print("scratchdl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
