"""The book's chapter-6 experiments, one module each, run by `scratchdl experiment NAME`.

Each module has `SUMMARY` (one line), `FULL` and `QUICK` sizes (printable), and
`run(size, seed=, data_dir=, dataset=, log=)` returning a result with `table()`
(the numbers, as text) and `plot(path=None)` (the matplotlib Figure, which a
notebook shows inline, written as a PNG to `path` when given). One generator,
seeded once per run, draws everything: the same seed gives the same numbers.
"""

from types import ModuleType

from scratchdl.app.experiments import (
    activation_histogram,
    batchnorm,
    hyperparams,
    optimizer_paths,
    optimizers,
    overfit,
    weight_init,
)

EXPERIMENTS: dict[str, ModuleType] = {
    "optimizer-paths": optimizer_paths,
    "optimizers": optimizers,
    "weight-init": weight_init,
    "activation-histogram": activation_histogram,
    "batchnorm": batchnorm,
    "overfit": overfit,
    "hyperparams": hyperparams,
}
"""Experiment names on the command line -> their modules."""

__all__ = ["EXPERIMENTS"]
