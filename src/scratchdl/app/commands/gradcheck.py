"""`scratchdl gradcheck`: backprop against numerical gradients, parameter by parameter.

The book's `gradient_check.py`: build the network in float64, take the first
--batch-size training images (`x_batch = x_train[:3]`), compute the gradient by
backprop (`network.gradient`) and by central differences
(`network.numerical_gradient`, h = 1e-4), and print the mean and largest absolute
difference for every parameter. Exit status 0 when every difference is within
--tolerance, 1 otherwise. Dropout masks are held fixed, so both gradients see
the same mask. Convolutional models are checked in a small configuration
(few filters, small hidden layer) with random biases (zeros would put every blank
patch exactly on a ReLU's kink, where the two gradients legitimately differ).
"""

from __future__ import annotations

import argparse

import numpy as np

from scratchdl.app.commands.common import (
    add_data_args,
    add_device_arg,
    describe,
    flat_input,
    non_negative_float,
    positive_int,
)
from scratchdl.app.commands.common import ratio as dropout_ratio
from scratchdl.app.experiments.common import format_table
from scratchdl.app.recipe import FIELDS, make_model, resolve
from scratchdl.gradient import gradient_check
from scratchdl.models import MODELS, Net, build_model
from scratchdl.runtime.errors import ScratchdlError, UsageError

FC_HIDDEN = {"two-layer": [50], "multi-layer": [10, 10]}
"""Default hidden sizes: the book's TwoLayerNet(784, 50, 10); a small multi-layer net."""

SMALL_CONV = {
    "simple-conv": {"conv_param": {"filter_num": 3, "filter_size": 5, "pad": 0, "stride": 1},
                    "hidden_size": 10, "weight_init_std": 0.1},
    "deep-conv": {**{f"conv_param_{i}": {"filter_num": 2} for i in range(1, 7)},
                  "hidden_size": 10},
}
"""Convolutional models in a configuration small enough to check numerically."""

CONV_BIAS_STD = 0.1
"""Convolutional models are checked with biases drawn as 0.1 * N(0, 1), not zeros.

ReLU and max pooling have kinks, where the central difference and backprop
legitimately disagree. With zero biases every filter over a blank patch of an
MNIST image outputs exactly 0, a ReLU's kink; with the book's weight_init_std
0.01, faint pixels leave pooled values within h of each other. Random biases,
SimpleConvNet's weights at 0.1, and one image (`CONV_BATCH`) keep every value
much farther than h from a kink.
"""

CONV_BATCH = 1
"""Default --batch-size for convolutional models: each image adds thousands of
positions that could sit near a kink."""


def add_parser(sub) -> None:
    p = sub.add_parser("gradcheck", help="check backprop against numerical gradients",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list(MODELS), default="two-layer",
                   help="the network to check (default two-layer)")
    p.add_argument("--hidden-size", "--hidden", dest="hidden", type=FIELDS["hidden"],
                   default=None, metavar="N[,N...]",
                   help="hidden sizes: 50 for two-layer, 10,10 for multi-layer (defaults)")
    p.add_argument("--activation", choices=["sigmoid", "relu"], default=None,
                   help="hidden activation (the model's default: sigmoid for two-layer, "
                   "relu for multi-layer)")
    p.add_argument("--batchnorm", action="store_true", default=None,
                   help="batch normalization before each activation (multi-layer)")
    p.add_argument("--dropout", type=dropout_ratio, default=None, metavar="RATIO",
                   help="dropout after each activation (multi-layer); one fixed mask")
    p.add_argument("--weight-decay", type=non_negative_float, default=None, metavar="LAMBDA",
                   help="L2 weight decay lambda (multi-layer)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="number of training images checked (3 as the book; 1 for conv models)")
    p.add_argument("--seed", type=int, default=0, help="seed for the weights and dropout mask")
    p.add_argument("--tolerance", type=non_negative_float, default=1e-6,
                   help="largest absolute difference allowed (1e-6)")
    add_data_args(p)
    add_device_arg(p)
    p.set_defaults(func=run)


def network_recipe(args: argparse.Namespace) -> dict:
    """The recipe of the network to check: the flags given, train's defaults, float64."""
    given = {"model": args.model, "hidden": args.hidden, "activation": args.activation,
             "dropout": args.dropout, "weight_decay": args.weight_decay,
             "batchnorm": args.batchnorm, "dtype": "float64"}
    recipe = resolve(given)
    if args.model in FC_HIDDEN and args.hidden is None:
        recipe["hidden"] = FC_HIDDEN[args.model]
    return recipe


def build(recipe: dict, input_size: int, rng: np.random.Generator) -> Net:
    """The network to check; convolutional ones small, with random biases."""
    if not flat_input(recipe):
        config = {"model": recipe["model"], **SMALL_CONV.get(recipe["model"], {})}
        model = build_model(config, rng=rng, dtype=np.float64)
        for name in [n for n in model.params if n.startswith("b")]:
            model.params[name] = CONV_BIAS_STD * rng.standard_normal(model.params[name].shape)
        return model
    return make_model(recipe, input_size, 10, rng)


def run(args: argparse.Namespace) -> int:
    from scratchdl.data import load_mnist

    recipe = network_recipe(args)
    fc = flat_input(recipe)
    (x_train, t_train), _ = load_mnist(flatten=fc, dataset=args.dataset or "mnist",
                                       data_dir=args.data_dir)
    batch_size = args.batch_size or (3 if fc else CONV_BATCH)
    if batch_size > len(x_train):
        raise UsageError(f"--batch-size must be at most {len(x_train)}, got {batch_size}")
    rng = np.random.default_rng(args.seed)
    model = build(recipe, int(np.prod(x_train.shape[1:])), rng)
    x_batch = x_train[:batch_size].astype(np.float64)
    t_batch = t_train[:batch_size]
    biases = "" if fc else f" | biases {CONV_BIAS_STD:g} * N(0, 1)"
    print(f"{describe(model)} | float64 | batch {batch_size} | seed {args.seed}{biases}",
          flush=True)
    report = gradient_check(model, x_batch, t_batch)
    rows = [[name, "x".join(str(d) for d in model.params[name].shape), f"{mean:.3e}",
             f"{largest:.3e}", f"{scale:.3e}"]
            for name, (mean, largest, scale) in report.items()]
    print(format_table(["param", "shape", "mean |diff|", "max |diff|", "max |grad|"], rows))
    worst = max(report, key=lambda n: np.nan_to_num(report[n][1], nan=np.inf))
    largest = report[worst][1]
    if not largest <= args.tolerance:
        hint = "" if fc else " (near a ReLU or max-pool kink? try --batch-size 1)"
        raise ScratchdlError(f"gradient check failed: max |diff| {largest:.3e} in {worst} "
                             f"exceeds --tolerance {args.tolerance:g}{hint}")
    print(f"gradient check passed: max |diff| {largest:.3e} (in {worst}) <= tolerance "
          f"{args.tolerance:g}")
    return 0
