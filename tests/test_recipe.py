"""The recipe: one table of per-model defaults for `scratchdl train`, its `--help` and the lab,
and field errors that name the field, for the command line (flags) and JSON (field names)."""

from __future__ import annotations

import pytest
from helpers import run_cli

from scratchdl.app.cli import as_flag
from scratchdl.app.recipe import DEFAULTS, RecipeError, resolve
from scratchdl.runtime.errors import spelling_arguments


def test_no_fields_is_the_seed_recipe():
    """Chapter 4's train_neuralnet.py: TwoLayerNet 784-50-10, sigmoid, std 0.01, SGD lr 0.1,
    batches of 100, 10,000 iterations; backprop in float32, seed 0."""
    assert resolve({}) == {
        "model": "two-layer", "hidden": [50], "activation": "sigmoid", "weight_init_std": 0.01,
        "optimizer": "sgd", "lr": 0.1, "batch_size": 100, "iters": 10000,
        "gradient": "backprop", "seed": 0, "dataset": "mnist", "weight_decay": 0.0,
        "batchnorm": False, "dtype": "float32"}


@pytest.mark.parametrize("model", list(DEFAULTS))
def test_each_model_takes_its_own_defaults(model):
    recipe = resolve({"model": model})
    assert {k: recipe[k] for k in DEFAULTS[model]} == DEFAULTS[model]
    assert ("iters" in recipe) != ("epochs" in recipe)


def test_the_convnets_train_with_adam_for_20_epochs():
    for model in ("simple-conv", "deep-conv"):
        recipe = resolve({"model": model})
        assert (recipe["optimizer"], recipe["lr"], recipe["epochs"]) == ("adam", 0.001, 20)


def test_given_fields_replace_defaults_and_numerical_means_float64():
    recipe = resolve({"model": "multi-layer", "hidden_size": "100,50", "epochs": 2,
                      "gradient": "numerical", "lr": "0.5", "batchnorm": True})
    assert recipe["hidden"] == [100, 50] and recipe["lr"] == 0.5 and recipe["batchnorm"]
    assert recipe["epochs"] == 2 and "iters" not in recipe
    assert recipe["dtype"] == "float64"


@pytest.mark.parametrize("given, field, words", [
    ({"lr": -1}, "lr", "lr: must be a positive number, got -1"),
    ({"batch_size": 2.5}, "batch_size", "expected a positive integer, got 2.5"),
    ({"optimizer": "lbfgs"}, "optimizer", "must be one of sgd, momentum, nesterov"),
    ({"hidden": "a,b"}, "hidden", "must be sizes like 100,100"),
    ({"batchnorm": "yes"}, "batchnorm", "must be true or false"),
    ({"model": "simple-conv", "hidden": 10}, "hidden", "applies to two-layer and multi-layer"),
    ({"dropout": 0.5}, "dropout", "need model=multi-layer"),
    ({"hidden": [50, 50]}, "hidden", "two-layer takes one hidden size"),
    ({"model": "deep-conv", "weight_init_std": 0.1}, "weight_init_std", "does not apply"),
    ({"learning_rate": 0.1}, "learning_rate", "unknown field 'learning_rate'"),
])
def test_a_bad_field_is_named_with_what_is_valid(given, field, words):
    with pytest.raises(RecipeError) as info:
        resolve(given)
    assert info.value.field == field and info.value.valid
    assert words in str(info.value) and "--" not in str(info.value)


def test_the_command_line_names_flags():
    with pytest.raises(RecipeError) as info:
        resolve({"model": "simple-conv", "hidden": 10})
    with spelling_arguments(as_flag):
        assert str(info.value) == ("--hidden applies to two-layer and multi-layer, not "
                                   "--model simple-conv")


def test_train_help_shows_every_models_defaults(capsys):
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.strip() and line.split()[0] in DEFAULTS}
    assert rows["two-layer"][1:] == ["50", "sigmoid", "0.01", "sgd", "0.1", "100", "10000",
                                     "iters"]
    assert rows["simple-conv"][4:] == ["adam", "0.001", "100", "20", "epochs"]
    assert rows["multi-layer"][1:4] == ["100,100,100", "relu", "he"]
