"""A short data-parallel run for tests/test_distributed.py, under `mpiexec -n N` or alone.

`scratchdl train`'s model, trainer and callbacks on the first 5,000 training and 500
test images of real MNIST (so that the final evaluation is quick), float64 unless
told. Rank 0 writes OUT.npz: the parameters (`param/W1`, ...), the loss of every
iteration, the final accuracies, and each rank's checksum of its first dropout mask.

    mpiexec -n 2 python tests/mpi_train.py OUT.npz --model simple-conv --iters 50
"""

from __future__ import annotations

import argparse

import numpy as np

from scratchdl.app.commands.common import flat_input
from scratchdl.app.commands.train import callbacks_for
from scratchdl.app.recipe import make_model, resolve
from scratchdl.data import load_mnist
from scratchdl.layers import Dropout
from scratchdl.runtime.distributed import MPICommunicator, checksum, communicator, guarded
from scratchdl.train import Trainer


class Perturb:
    """Nudges W1 of one rank after one iteration: a process that has gone astray."""

    def __init__(self, rank: int, iteration: int) -> None:
        self.rank, self.iteration = rank, iteration

    def on_step_end(self, trainer: Trainer, i: int) -> None:
        if trainer.comm.rank == self.rank and i == self.iteration:
            trainer.network.params["W1"][0, 0] += 1e-12


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--model", default="two-layer")
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--hidden", default=None)
    parser.add_argument("--gradient", default="backprop")
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--batchnorm", action="store_true")
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--perturb", default=None, metavar="RANK:ITERATION")
    args = parser.parse_args()
    comm = communicator("auto")
    with guarded(comm):
        recipe = resolve({"model": args.model, "iters": args.iters, "dtype": "float64",
                          "gradient": args.gradient, "dropout": args.dropout,
                          "batchnorm": args.batchnorm or None, "hidden": args.hidden})
        (x_train, t_train), (x_test, t_test) = load_mnist(flatten=flat_input(recipe))
        rng = np.random.default_rng(0)
        net = make_model(recipe, 784, 10, rng)
        callbacks = callbacks_for(recipe, args.checkpoint_dir, True, comm)
        if args.perturb:
            callbacks.append(Perturb(*map(int, args.perturb.split(":"))))
        trainer = Trainer(net, x_train[:5000], t_train[:5000], x_test[:500], t_test[:500],
                          iters=args.iters, mini_batch_size=recipe["batch_size"],
                          optimizer=recipe["optimizer"], optimizer_param={"lr": recipe["lr"]},
                          gradient=args.gradient, evaluate_sample_num_per_epoch=200, rng=rng,
                          verbose=False, callbacks=callbacks, comm=comm)
        accuracies = trainer.train()
        masks = [layer.mask for layer in net.layers if isinstance(layer, Dropout)]
        mask = checksum({"mask": masks[0]}) if masks else bytes(16)
        if isinstance(comm, MPICommunicator):
            masks = comm.allgather(mask)
        else:
            masks = [mask]
        if comm.rank == 0:
            np.savez(args.out, loss=np.array(trainer.history.train_loss),
                     accuracies=np.array(accuracies), masks=np.array(masks),
                     **{f"param/{k}": v for k, v in net.params.items()},
                     **{f"buffer/{k}": v for k, v in net.buffers().items()})


if __name__ == "__main__":
    main()
