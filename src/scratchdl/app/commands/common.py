"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from scratchdl.io import trained_on
from scratchdl.models import Net
from scratchdl.runtime.backend import DEVICES
from scratchdl.runtime.errors import ScratchdlError


def number(text: object, cast, low: float, strict: bool, what: str):
    """Parse `text` (a string, or a number from JSON) with `cast` and require it finite and
    above `low` (or at least, unless `strict`); raise argparse's error naming `what` was
    expected otherwise. Booleans, and fractions where an integer is wanted, are refused."""
    try:
        if isinstance(text, bool):
            raise ValueError(text)
        value = cast(text)
        if isinstance(text, float) and value != text:
            raise ValueError(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not (value > low if strict else value >= low) or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer > 0."""
    return number(text, int, 0, True, "a positive integer")


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    return number(text, float, 0, True, "a positive number")


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    return number(text, float, 0, False, "a number >= 0")


def ratio(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """--dataset and --data-dir, as every data-reading subcommand takes them."""
    parser.add_argument("--dataset", default=None, metavar="NAME",
                        help="mnist (default) or fashion-mnist")
    add_data_dir_arg(parser)


def add_data_dir_arg(parser: argparse.ArgumentParser) -> None:
    """--data-dir, where the data sets are looked for first."""
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder holding mnist/ and fashion-mnist/ (searched first; "
                        "the environment variable SCRATCHDL_DATA works too)")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """--device, as every computing subcommand takes it (`scratchdl.app.cli` applies it)."""
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="cpu (NumPy, the default) or gpu (CuPy on the current CUDA "
                        'device; install it with pip install -e ".[gpu]")')


def check_output_path(path: str) -> None:
    """Fail before any work if `path` cannot be written: a folder, or under a regular file."""
    target = Path(path)
    if target.is_dir():
        raise ScratchdlError(f"cannot write {path}: it is a folder; give a file name")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ScratchdlError(f"cannot write {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise ScratchdlError(f"cannot write {path}: {parent} is not writable")


def flat_input(config: dict) -> bool:
    """Fully connected models take (N, 784) images; convolutional ones take (N, 1, 28, 28)."""
    return config["model"] in ("two-layer", "multi-layer")


def load_test_set(args: argparse.Namespace, model: Net, header: dict):
    """(data set, x_test, t_test) a model is judged on: the set it was trained on
    unless --dataset says otherwise; images shaped for the model."""
    from scratchdl.data import load_mnist

    dataset = args.dataset or trained_on(header)
    _, (x_test, t_test) = load_mnist(flatten=flat_input(model.config), dataset=dataset,
                                     data_dir=args.data_dir)
    return dataset, x_test, t_test


def describe(model: Net) -> str:
    """One line naming the architecture, e.g. 'TwoLayerNet 784-50-10 sigmoid'."""
    c = model.config
    name = type(model).__name__
    if c["model"] == "two-layer":
        return f"{name} {c['input_size']}-{c['hidden_size']}-{c['output_size']} {c['activation']}"
    if c["model"] == "multi-layer":
        sizes = "-".join(str(s) for s in [c["input_size"], *c["hidden_size_list"],
                                          c["output_size"]])
        extras = [e for e, on in [("batchnorm", c["use_batchnorm"]),
                                  (f"dropout {c['dropout_ration']}", c["use_dropout"]),
                                  (f"weight decay {c['weight_decay_lambda']}",
                                   c["weight_decay_lambda"])] if on]
        return " ".join([name, sizes, c["activation"], *extras])
    return f"{name} ({model.n_params():,} parameters)"
