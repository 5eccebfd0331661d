"""A training run's recipe: `scratchdl train`'s settings, with one table of per-model defaults.

A field is a flag of `train` with underscores (`batch_size` for `--batch-size`). `resolve`
fills in the chosen model's defaults and checks every field; `train` parses its flags with
it, shows `DEFAULTS` in its `--help`, and records the result in checkpoints and model files;
`scratchdl lab` reads its JSON configurations with it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

import numpy as np

from scratchdl.app.commands.common import (
    non_negative_float,
    number,
    positive_float,
    positive_int,
    ratio,
)
from scratchdl.data.augment import AUGMENTATIONS
from scratchdl.data.registry import get_dataset
from scratchdl.models import MODELS, Net, build_model
from scratchdl.models.base import init_std
from scratchdl.models.two_layer_net import ACTIVATIONS
from scratchdl.optim import OPTIMIZERS
from scratchdl.runtime.errors import UsageError
from scratchdl.train import GRADIENTS

DEFAULTS: dict[str, dict] = {
    "two-layer": {"hidden": [50], "activation": "sigmoid", "weight_init_std": 0.01,
                  "optimizer": "sgd", "lr": 0.1, "batch_size": 100, "iters": 10000},
    "multi-layer": {"hidden": [100, 100, 100], "activation": "relu", "weight_init_std": "he",
                    "optimizer": "sgd", "lr": 0.1, "batch_size": 100, "iters": 10000},
    "simple-conv": {"weight_init_std": 0.01, "optimizer": "adam", "lr": 0.001,
                    "batch_size": 100, "epochs": 20},
    "deep-conv": {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 20},
}
"""Per model, what a flag not given means: the seed recipe (chapter 4's `train_neuralnet.py`)
for TwoLayerNet, the book's settings for the others (DeepConvNet is always He-initialised)."""

COMMON = {"gradient": "backprop", "seed": 0, "dataset": "mnist", "weight_decay": 0.0,
          "batchnorm": False}
"""Defaults shared by every model. The dtype follows the gradient: float32 for backprop,
float64 for numerical gradients."""

DTYPES = ("float32", "float64")
FULLY_CONNECTED = ("two-layer", "multi-layer")
MAX_HIDDEN = 10**9
"""More units than any machine holds; larger sizes would overflow NumPy's shapes."""


def choice(options) -> Callable[[object], str]:
    """A parser that admits one of `options`."""
    def parse(value: object) -> str:
        if value not in options:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(options)}, got {value!r}")
        return str(value)
    parse.__doc__ = "one of " + ", ".join(options)
    return parse


def dataset(value: object) -> str:
    """mnist or fashion-mnist"""
    try:
        return get_dataset(str(value)).name
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def hidden_sizes(value: object) -> list[int]:
    """hidden layer sizes: 100,100, a number, or a list of numbers"""
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        sizes = [number(part, int, 0, True, "") for part in parts]
    except argparse.ArgumentTypeError:
        if all(str(part).strip().lstrip("-").isdigit() for part in parts):
            raise argparse.ArgumentTypeError(f"sizes must be positive, got {value!r}") from None
        raise argparse.ArgumentTypeError(f"must be sizes like 100,100; got {value!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError(f"must be sizes like 100,100; got {value!r}")
    if max(sizes) > MAX_HIDDEN:
        raise argparse.ArgumentTypeError(f"sizes must be at most {MAX_HIDDEN:,}, got {value!r}")
    return sizes


def weight_init(value: object) -> float | str:
    """a positive number, or he, relu, xavier, sigmoid"""
    try:
        return init_std(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("weight_init_std ")) from None


def seed(value: object) -> int:
    """an integer >= 0"""
    return number(value, int, 0, False, "an integer >= 0")


def folder(value: object) -> str:
    """a folder's path"""
    return str(value)


def boolean(value: object) -> bool:
    """true or false"""
    if not isinstance(value, bool):
        raise argparse.ArgumentTypeError(f"must be true or false, got {value!r}")
    return value


FIELDS: dict[str, Callable[[object], object]] = {
    "model": choice(list(MODELS)),
    "hidden": hidden_sizes,
    "activation": choice(list(ACTIVATIONS)),
    "weight_init_std": weight_init,
    "weight_decay": non_negative_float,
    "dropout": ratio,
    "batchnorm": boolean,
    "batch_size": positive_int,
    "iters": positive_int,
    "epochs": positive_float,
    "lr": positive_float,
    "optimizer": choice(list(OPTIMIZERS)),
    "lr_step": positive_int,
    "lr_gamma": ratio,
    "gradient": choice(GRADIENTS),
    "eval_every": positive_int,
    "evaluate_sample_num": positive_int,
    "augment": choice(list(AUGMENTATIONS)),
    "seed": seed,
    "dtype": choice(DTYPES),
    "dataset": dataset,
    "data_dir": folder,
}
"""Every field of a recipe, and the parser that checks its value."""


class RecipeError(UsageError):
    """A bad field of a recipe: `field` is its name, `valid` says what it may be."""

    def __init__(self, field: str, message: str, valid: str = "") -> None:
        super().__init__(message)
        self.field, self.valid = field, valid


def parse(field: str, value: object) -> object:
    """`value` checked by its field's parser; a RecipeError names the field if it is bad."""
    if field not in FIELDS:
        raise RecipeError(field, f"unknown field {field!r}; the fields are {', '.join(FIELDS)}",
                          ", ".join(FIELDS))
    try:
        return FIELDS[field](value)
    except argparse.ArgumentTypeError as e:
        raise RecipeError(field, f"${{{field}}}: {e}", valid_values(field)) from None


def valid_values(field: str) -> str:
    """What a field may be, in a few words: its parser's docstring."""
    doc = (FIELDS[field].__doc__ or "").strip().removeprefix("An argparse type: ")
    return doc.rstrip(".")


def resolve(given: Mapping[str, object]) -> dict:
    """The whole recipe: `given` fields (None: not given) and the model's defaults for the rest.

    `hidden_size` is another name of `hidden`. Raises RecipeError for a bad field, or for a
    field that does not apply to the chosen model. Giving both `iters` and `epochs` is left
    to the Trainer to refuse.
    """
    given = {k: v for k, v in given.items() if v is not None}
    if "hidden_size" in given:
        if "hidden" in given:
            raise RecipeError("hidden_size", "give ${hidden} or ${hidden_size}, not both")
        given["hidden"] = given.pop("hidden_size")
    given = {field: parse(field, value) for field, value in given.items()}
    model = given.get("model", "two-layer")
    recipe = {**COMMON, **DEFAULTS[model]}
    if "iters" in given or "epochs" in given:
        recipe.pop("iters", None)
        recipe.pop("epochs", None)
    recipe.update(given, model=model)
    check_applies(given, model)
    recipe.setdefault("dtype", "float64" if recipe["gradient"] == "numerical" else "float32")
    return recipe


def check_applies(given: Mapping[str, object], model: str) -> None:
    """Refuse fields that the chosen model does not have."""
    for field in ("hidden", "activation"):
        if model not in FULLY_CONNECTED and field in given:
            raise RecipeError(field, f"${{{field}}} applies to two-layer and multi-layer, not "
                              f"${{model:{model}}}", "only with model two-layer or multi-layer")
    if model != "multi-layer":
        for field in ("batchnorm", "dropout", "weight_decay"):
            if field in given and (field == "dropout" or given[field]):
                raise RecipeError(field, "${batchnorm}, ${dropout} and ${weight_decay} need "
                                  "${model:multi-layer}", "only with model multi-layer")
    if model == "two-layer" and len(given.get("hidden", [50])) != 1:
        raise RecipeError("hidden", "two-layer takes one hidden size; use ${model:multi-layer} "
                          "for more", "one size, e.g. 50")
    if model == "deep-conv" and "weight_init_std" in given:
        raise RecipeError("weight_init_std", "deep-conv uses He initialisation; "
                          "${weight_init_std} does not apply", "not with model deep-conv")


def make_model(recipe: Mapping, input_size: int, output_size: int,
               rng: np.random.Generator) -> Net:
    """The recipe's network, its weights drawn from the run's generator."""
    name = recipe["model"]
    config: dict = {"model": name}
    if name == "two-layer":
        config.update(input_size=input_size, hidden_size=recipe["hidden"][0],
                      output_size=output_size, weight_init_std=recipe["weight_init_std"],
                      activation=recipe["activation"])
    elif name == "multi-layer":
        dropout = recipe.get("dropout")
        config.update(
            input_size=input_size, hidden_size_list=list(recipe["hidden"]),
            output_size=output_size, activation=recipe["activation"],
            weight_init_std=recipe["weight_init_std"],
            weight_decay_lambda=recipe.get("weight_decay") or 0.0,
            use_dropout=dropout is not None, dropout_ration=dropout if dropout is not None else 0.5,
            use_batchnorm=bool(recipe.get("batchnorm")),
        )
    elif "weight_init_std" in recipe:
        config["weight_init_std"] = recipe["weight_init_std"]
    return build_model(config, rng=rng, dtype=recipe["dtype"])


def trainer_options(recipe: Mapping) -> dict:
    """The recipe's settings as `Trainer`'s keyword arguments (all but the data, the
    generator, the callbacks and the communicator)."""
    return {
        "epochs": recipe.get("epochs"), "iters": recipe.get("iters"),
        "mini_batch_size": recipe["batch_size"], "optimizer": recipe["optimizer"],
        "optimizer_param": {"lr": recipe["lr"]}, "gradient": recipe["gradient"],
        "evaluate_sample_num_per_epoch": recipe.get("evaluate_sample_num"),
        "eval_every": recipe.get("eval_every"),
        "augment": AUGMENTATIONS[recipe["augment"]] if recipe.get("augment") else None,
    }


def defaults_table() -> str:
    """DEFAULTS as the text table of `train --help`."""
    head = ["model", "hidden", "activation", "weight init", "optimizer", "lr", "batch",
            "length"]
    rows = [head]
    for model, d in DEFAULTS.items():
        length = f"{d['iters']} iters" if "iters" in d else f"{d['epochs']} epochs"
        rows.append([model, ",".join(map(str, d.get("hidden", ["-"]))),
                     d.get("activation", "-"), str(d.get("weight_init_std", "he (fixed)")),
                     d["optimizer"], f"{d['lr']:g}", str(d["batch_size"]), length])
    widths = [max(len(row[k]) for row in rows) for k in range(len(head))]
    return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in rows)
