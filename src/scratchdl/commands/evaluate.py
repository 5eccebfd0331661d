"""`scratchdl evaluate MODEL.npz`: test accuracy of a saved model."""

from __future__ import annotations

import argparse

from scratchdl.commands.common import add_data_args, add_device_arg, flat_input
from scratchdl.io import load_model


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="print the test accuracy of a saved model",
                       description=__doc__)
    p.add_argument("model", metavar="MODEL.npz", help="a model saved by `scratchdl train --save`")
    add_data_args(p)
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scratchdl.data import load_mnist

    model, header = load_model(args.model)
    dataset = args.dataset or header.get("hyperparameters", {}).get("dataset", "mnist")
    _, (x_test, t_test) = load_mnist(flatten=flat_input(model.config), dataset=dataset,
                                     data_dir=args.data_dir)
    acc = model.accuracy(x_test, t_test)
    print(f"test acc {acc:.4f} ({x_test.shape[0]} {dataset} test images)")
    return 0
