"""`scratchdl train`: train a network of the book on MNIST; defaults are the seed recipe.

The seed recipe is chapter 4's `train_neuralnet.py`: TwoLayerNet 784-50-10 with sigmoid,
weights drawn as 0.01 * N(0, 1), mini-batches of 100, 10,000 iterations of SGD with
learning rate 0.1, train and test accuracy after every epoch (600 iterations).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from scratchdl.app.commands.common import (
    add_data_args,
    add_device_arg,
    check_output_path,
    describe,
    flat_input,
    non_negative_float,
    positive_float,
    positive_int,
    ratio,
)
from scratchdl.app.recipe import (
    DTYPES,
    FIELDS,
    defaults_table,
    make_model,
    resolve,
    trainer_options,
)
from scratchdl.data.augment import AUGMENTATIONS
from scratchdl.io import CHECKPOINT_FORMAT, read_npz, save_model
from scratchdl.models import MODELS
from scratchdl.models.two_layer_net import ACTIVATIONS
from scratchdl.optim import OPTIMIZERS
from scratchdl.runtime.callbacks import format_time
from scratchdl.runtime.distributed import MODES, DataParallel, communicator, guarded
from scratchdl.runtime.errors import ModelFileError, UsageError
from scratchdl.train import GRADIENTS, Trainer


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network on MNIST (default: the book's seed recipe)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="each model's defaults (a flag given replaces its default):\n"
        + defaults_table() + "\nevery model: --gradient backprop, --seed 0, --dataset mnist, "
        "--dtype float32\n(float64 with --gradient numerical)",
    )
    g = p.add_argument_group("network")
    g.add_argument("--model", choices=list(MODELS), default=None,
                   help="two-layer (default), multi-layer, simple-conv or deep-conv; each "
                   "model's defaults are in the table below")
    g.add_argument("--hidden-size", "--hidden", dest="hidden", type=FIELDS["hidden"],
                   default=None, metavar="N[,N...]",
                   help="hidden layer sizes, e.g. 50 (two-layer) or 100,100,100 (multi-layer)")
    g.add_argument("--activation", choices=list(ACTIVATIONS), default=None,
                   help="hidden activation (sigmoid for the seed recipe, relu for chapter 5)")
    g.add_argument("--weight-init-std", type=FIELDS["weight_init_std"], default=None,
                   metavar="STD", help="a number (0.01 for the seed recipe) or he, relu, "
                   "xavier, sigmoid")
    g.add_argument("--weight-decay", type=non_negative_float, default=None, metavar="LAMBDA",
                   help="L2 weight decay lambda (multi-layer)")
    g.add_argument("--dropout", type=ratio, default=None, metavar="RATIO",
                   help="dropout ratio after each hidden activation (multi-layer)")
    g.add_argument("--batchnorm", action="store_true", default=None,
                   help="batch normalization before each hidden activation (multi-layer)")
    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=positive_int, default=None, help="mini-batch size")
    g.add_argument("--iters", type=positive_int, default=None, help="number of iterations")
    g.add_argument("--epochs", type=positive_float, default=None,
                   help="number of epochs, instead of --iters")
    g.add_argument("--lr", type=positive_float, default=None, help="learning rate")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default=None,
                   help="the update rule (chapter 6.1)")
    g.add_argument("--lr-step", type=positive_int, default=None, metavar="EPOCHS",
                   help="multiply the learning rate by --lr-gamma every EPOCHS epochs "
                   "(default: constant, like the book)")
    g.add_argument("--lr-gamma", type=ratio, default=None, metavar="FACTOR",
                   help="the factor of --lr-step (0.5)")
    g.add_argument("--gradient", choices=GRADIENTS, default=None,
                   help="backprop (default) or numerical: central differences, h = 1e-4")
    g.add_argument("--eval-every", type=positive_int, default=None, metavar="ITERS",
                   help="evaluate every ITERS iterations (default: once per epoch)")
    g.add_argument("--evaluate-sample-num", type=positive_int, default=None, metavar="N",
                   help="evaluate each epoch on the first N samples only (default: all)")
    g.add_argument("--augment", choices=list(AUGMENTATIONS), default=None,
                   help="augment training batches: shift = random shifts of up to 2 pixels "
                   "(off by default, like the book)")
    g.add_argument("--seed", type=FIELDS["seed"], default=None,
                   help="seed of the run's one random generator (0); same seed, same numbers")
    g.add_argument("--dtype", choices=DTYPES, default=None,
                   help="float32 (default) or float64 (default for --gradient numerical)")
    g.add_argument("--distributed", choices=MODES, default="auto",
                   help="auto (default): data-parallel over MPI when started by `mpiexec -n N`; "
                   "mpi: insist on MPI; none: one process even under mpiexec")
    add_data_args(p)
    add_device_arg(p)
    g = p.add_argument_group("output")
    g.add_argument("--save", metavar="FILE.npz", default=None, help="save the trained model")
    g.add_argument("--checkpoint-dir", metavar="DIR", default=None,
                   help="write a checkpoint after every epoch into DIR")
    g.add_argument("--resume", metavar="DIR", default=None,
                   help="continue the run checkpointed in DIR (its settings are reused; "
                   "--epochs or --iters extend it)")
    g.add_argument("--plot", metavar="FILE.png", default=None,
                   help="write loss and accuracy curves to a PNG")
    g.add_argument("--quiet", action="store_true", help="print only the final line")
    p.set_defaults(func=run)


def given_fields(args: argparse.Namespace) -> dict:
    """The recipe's fields the command line gave (flags left out are None)."""
    return {field: getattr(args, field) for field in FIELDS if getattr(args, field) is not None}


def load_resume(directory: str) -> dict:
    """The recipe recorded in a checkpoint folder."""
    from scratchdl.runtime.checkpoint import CHECKPOINT

    path = Path(directory) / CHECKPOINT
    if not path.is_file():
        raise UsageError(f"--resume {directory}: no {path.name} there; "
                         "train with --checkpoint-dir DIR to make one")
    header, _ = read_npz(path, CHECKPOINT_FORMAT)
    recipe = header.get("run")
    if not isinstance(recipe, dict) or "model" not in recipe:
        raise ModelFileError(f"{path}: the checkpoint does not record its run settings")
    return recipe


def resume_recipe(args: argparse.Namespace) -> dict:
    """The checkpoint's recipe; --epochs or --iters may extend it, nothing else may change."""
    given = given_fields(args)
    length = {k: given.pop(k) for k in ("iters", "epochs") if k in given}
    if given:
        flags = ", ".join(f"${{{k}}}" for k in given)
        raise UsageError(f"${{resume}} reuses the checkpoint's settings; {flags} cannot change "
                         "them (only ${epochs} or ${iters}, to train longer)")
    recipe = load_resume(args.resume)
    if length:
        recipe.pop("iters", None)
        recipe.pop("epochs", None)
    return {**recipe, **length}


def callbacks_for(recipe: dict, checkpoint_dir: str | None, quiet: bool, comm) -> list:
    """What `scratchdl train` runs around the book's loop, in the order they must run.

    comm: the run's communicator; several processes train data-parallel
    (`DataParallel`), and rank 0 alone reports progress.
    """
    from scratchdl.runtime import callbacks as cb
    from scratchdl.runtime.checkpoint import Checkpoint, Interrupt

    chosen = [cb.DivergenceGuard()]  # before Checkpoint: a blown-up state is never saved
    if comm.size > 1:
        chosen.append(DataParallel(recipe["seed"]))
    if recipe.get("lr_step"):
        chosen.append(cb.StepDecay(recipe["lr_step"], recipe.get("lr_gamma") or 0.5))
    chosen.append(cb.BlasThreads(1))  # conv nets hold BLAS to one thread themselves too
    if flat_input(recipe):  # one core steps a fully connected net; one evaluates
        chosen.append(cb.BackgroundEvaluation())
    if checkpoint_dir:
        chosen.append(Checkpoint(checkpoint_dir, recipe))
    chosen.append(Interrupt(checkpoint_dir or "scratchdl-checkpoint", recipe))
    if not quiet and comm.rank == 0:
        chosen.append(cb.Progress())
    return chosen


def run(args: argparse.Namespace) -> int:
    comm = communicator(args.distributed)
    with guarded(comm):  # under mpiexec: a failure on any rank ends the job, in one line
        return train(args, comm)


def train(args: argparse.Namespace, comm) -> int:
    """The run of `scratchdl train` in this process (one rank of several under MPI:
    rank 0 alone prints and writes files)."""
    from scratchdl.data import load_mnist
    from scratchdl.runtime.checkpoint import load_checkpoint

    lead = comm.rank == 0
    recipe = resolve(resume_recipe(args) if args.resume else given_fields(args))
    for path in (args.save, args.plot):
        if path:
            check_output_path(path)
    checkpoint_dir = args.checkpoint_dir or args.resume
    (x_train, t_train), (x_test, t_test) = load_mnist(
        normalize=True, flatten=flat_input(recipe), dataset=recipe["dataset"],
        data_dir=recipe.get("data_dir"),
    )
    rng = np.random.default_rng(recipe["seed"])
    model = make_model(recipe, int(np.prod(x_train.shape[1:])), 10, rng)
    trainer = Trainer(
        model, x_train, t_train, x_test, t_test, rng=rng, verbose=False,
        callbacks=callbacks_for(recipe, checkpoint_dir, args.quiet, comm), comm=comm,
        **trainer_options(recipe),
    )
    if args.resume:
        load_checkpoint(trainer, args.resume)
    processes = f", {comm.size} processes" if comm.size > 1 else ""
    if not args.quiet and lead:
        length = (f"{recipe['iters']} iterations" if "iters" in recipe
                  else f"{recipe['epochs']:g} epochs ({trainer.max_iter} iterations)")
        print(f"{describe(model)} | {recipe['optimizer']} lr {recipe['lr']:g} | batch "
              f"{recipe['batch_size']} | {length} | {recipe['gradient']} | {recipe['dtype']} | "
              f"seed {recipe['seed']} | {recipe['dataset']} | {args.device}"
              + (f" | resumed at iteration {trainer.current_iter}" if args.resume else "")
              + (f" | {comm.size} processes (MPI)" if comm.size > 1 else ""), flush=True)
    train_acc, test_acc = trainer.train()
    if not lead:
        return 0
    if args.save:
        save_model(model, args.save, hyperparameters=recipe, seed=recipe["seed"],
                   device=args.device, metrics={"train_acc": train_acc, "test_acc": test_acc,
                            "iterations": trainer.current_iter})
    if args.plot:
        from scratchdl.app.plots import plot_history

        plot_history(trainer.history, args.plot, title=describe(model))
    print(f"final: train acc {train_acc:.4f}, test acc {test_acc:.4f} "
          f"({trainer.current_iter} iterations, {format_time(trainer.elapsed)} training + "
          f"{format_time(trainer.eval_seconds)} evaluation{processes})", flush=True)
    warn_if_at_chance(test_acc, t_test, recipe)
    return 0


def warn_if_at_chance(test_acc: float, t_test: np.ndarray, recipe: dict) -> None:
    """A run that ends no better than guessing is not an error, but is said to be one."""
    classes = int(t_test.max()) + 1
    if test_acc < 1.5 / classes:
        print(f"scratchdl: warning: the network did not learn (test acc {test_acc:.4f}, "
              f"chance is {1 / classes:.2f}); try a smaller learning rate "
              f"(--lr {recipe['lr'] / 10:g}) or another --weight-init-std", file=sys.stderr,
              flush=True)
