"""A lab run's configuration: `scratchdl train`'s recipe (one field per flag), the lab's data
sets and training-set size, and the server's caps.

`configure(given, limits)` answers the full recipe, or raises RecipeError naming the bad field
and what it may be; the server answers that with 400.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from scratchdl.app.commands.common import non_negative_float, number
from scratchdl.app.recipe import FULLY_CONNECTED, RecipeError, resolve
from scratchdl.data.toy import TOY_SETS

IMAGE_SETS = ("mnist", "fashion-mnist")
DATASETS = (*IMAGE_SETS, *TOY_SETS)
"""What `dataset` may be: 28x28 images, 60,000 for training (or the first `train_size`) and
10,000 for testing; or a toy set of points in the plane (300 each)."""

FIELDS = ("dataset", "train_size", "model", "hidden", "hidden_size", "activation",
          "weight_init_std", "optimizer", "lr", "batch_size", "batchnorm", "dropout",
          "weight_decay", "gradient", "seed", "iters", "epochs", "eval_every", "dtype")
"""The fields of a configuration: `scratchdl train`'s flags with underscores, and the lab's
`train_size`."""

OPTIONS = ("paused", "speed")
"""How a run starts and goes, beside its recipe: `paused` (true: wait for resume or step),
`speed` (at most this many iterations per second; 0, the default: as fast as it can)."""

MIN_TRAIN_SIZE = 1000


@dataclass(frozen=True)
class Limits:
    """The server's caps on what one configuration may ask for, and on runs at once."""

    max_runs: int
    max_iters: int = 100_000
    max_hidden: int = 2_000
    """Hidden units of a network, all its hidden layers together."""
    max_train_size: int = 60_000
    max_numerical_params: int = 50_000
    """Parameters of a network trained with numerical gradients (the seed's has 39,760)."""


@cache
def data_shape(dataset: str) -> tuple[int, int, int]:
    """(training samples, inputs, classes) of a data set."""
    if dataset in IMAGE_SETS:
        return 60_000, 784, 10
    x, t = TOY_SETS[dataset](train=True)
    return len(x), x.shape[1], int(t.max()) + 1


def configure(given: Mapping[str, object], limits: Limits) -> dict:
    """The run's whole recipe: `given` fields, and `scratchdl train`'s defaults for the rest
    (the lab's: dataset mnist, train_size 60,000). RecipeError for a bad field, or one over
    the server's limits."""
    for field in given:
        if field not in FIELDS:
            raise RecipeError(field, f"unknown field {field!r}", ", ".join(FIELDS))
    given = {k: v for k, v in given.items() if v is not None}
    dataset = given.pop("dataset", "mnist")
    if dataset not in DATASETS:
        raise RecipeError("dataset", f"dataset: unknown data set {dataset!r}",
                          "one of " + ", ".join(DATASETS))
    if given.get("model", "two-layer") not in FULLY_CONNECTED:
        raise RecipeError("model", f"model: the lab trains two-layer and multi-layer "
                          f"networks, got {given['model']!r}",
                          "one of " + ", ".join(FULLY_CONNECTED))
    samples, inputs, classes = data_shape(dataset)
    train_size = train_size_of(given.pop("train_size", None), dataset, samples, limits)
    recipe = resolve(given)
    recipe.update(dataset=dataset, train_size=train_size)
    check_limits(recipe, inputs, classes, limits)
    return recipe


def train_size_of(value: object, dataset: str, samples: int, limits: Limits) -> int:
    """The training-set size asked for: the first `value` images; a toy set's are all used."""
    if dataset not in IMAGE_SETS:
        if value is not None and value != samples:
            raise RecipeError("train_size", f"train_size: the toy sets have {samples} points, "
                              f"all used; got {value!r}", f"{samples}, or only with "
                              f"dataset {' or '.join(IMAGE_SETS)}")
        return samples
    if value is None:
        return min(samples, limits.max_train_size)
    high = min(samples, limits.max_train_size)
    low = min(MIN_TRAIN_SIZE, high)
    try:
        size = number(value, int, low, False, f"an integer from {low:,} to {high:,}")
    except argparse.ArgumentTypeError as e:
        raise RecipeError("train_size", f"train_size: {e}", f"{low:,} to {high:,}") from None
    if size > high:
        raise RecipeError("train_size", f"train_size: at most {high:,} here, got {size:,}",
                          f"{low:,} to {high:,}")
    return size


def parameter_count(recipe: Mapping, inputs: int, classes: int) -> int:
    """Parameters of the recipe's network: each Affine's W and b, and batch norm's
    gamma and beta."""
    sizes = [inputs, *recipe["hidden"], classes]
    affine = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return affine + (2 * sum(recipe["hidden"]) if recipe.get("batchnorm") else 0)


def iterations(recipe: Mapping) -> int:
    """The run's length in iterations, as `Trainer` counts it."""
    if "iters" in recipe:
        return recipe["iters"]
    return math.ceil(recipe["epochs"] * math.ceil(recipe["train_size"] / recipe["batch_size"]))


def check_limits(recipe: Mapping, inputs: int, classes: int, limits: Limits) -> None:
    """Refuse a recipe over the server's caps, or one whose batch outgrows its training set."""
    if recipe["batch_size"] > recipe["train_size"]:
        raise RecipeError("batch_size", f"batch_size: at most the training-set size "
                          f"{recipe['train_size']:,}, got {recipe['batch_size']:,}",
                          f"1 to {recipe['train_size']:,}")
    units = sum(recipe["hidden"])
    if units > limits.max_hidden:
        raise RecipeError("hidden", f"hidden: {units:,} hidden units in all; this server "
                          f"allows {limits.max_hidden:,}", f"at most {limits.max_hidden:,} "
                          "units over all hidden layers")
    length = "iters" if "iters" in recipe else "epochs"
    if iterations(recipe) > limits.max_iters:
        raise RecipeError(length, f"{length}: {iterations(recipe):,} iterations; this server "
                          f"allows {limits.max_iters:,}", f"at most {limits.max_iters:,} "
                          "iterations")
    params = parameter_count(recipe, inputs, classes)
    if recipe["gradient"] == "numerical" and params > limits.max_numerical_params:
        raise RecipeError("gradient", f"gradient: numerical gradients of {params:,} parameters "
                          f"are too slow to watch; this server allows them up to "
                          f"{limits.max_numerical_params:,} (a smaller hidden size, or backprop)",
                          f"backprop, or numerical for networks of at most "
                          f"{limits.max_numerical_params:,} parameters")


def run_options(given: Mapping[str, object]) -> tuple[bool, float]:
    """(paused, speed) from a request's options; RecipeError names a bad one."""
    paused = given.get("paused", False)
    if not isinstance(paused, bool):
        raise RecipeError("paused", f"paused: must be true or false, got {paused!r}",
                          "true or false")
    try:
        speed = non_negative_float(given.get("speed", 0))
    except argparse.ArgumentTypeError as e:
        raise RecipeError("speed", f"speed: {e}", "iterations per second, a number >= 0 "
                          "(0: as fast as it goes)") from None
    return paused, speed
