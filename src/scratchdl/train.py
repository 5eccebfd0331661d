"""The training loop (chapters 4-6), as the book's `common/trainer.py` writes it.

`Trainer.train` is the book's loop: each iteration draws `mini_batch_size` distinct
training samples at random, computes the gradient (backprop or numerical), and lets
the optimizer update the parameters (Adam as `engines.optim.FastAdam`, the book's
numbers worked in place); every `iter_per_epoch` iterations it measures
train and test accuracy. Everything else a long run needs (progress, checkpoints,
Ctrl-C, a learning-rate schedule, the divergence guard, background evaluation,
BLAS threads) is a small callback in `scratchdl.runtime.callbacks`, chosen by the caller.
The trainer knows nothing of the model beyond `params`, `gradient`,
`numerical_gradient` (with `last_loss`) and `accuracy`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from scratchdl.engines.optim import FAST_OPTIMIZERS
from scratchdl.models import Net
from scratchdl.optim import get_optimizer
from scratchdl.runtime.backend import asarray, xp
from scratchdl.runtime.callbacks import Progress
from scratchdl.runtime.errors import DivergenceError, UsageError
from scratchdl.runtime.threads import even_slices

__all__ = ["GRADIENTS", "History", "SingleProcess", "Trainer"]

GRADIENTS = ("backprop", "numerical")


@dataclass
class History:
    """Loss per iteration; train and test accuracy at each evaluation."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    eval_iters: list[int] = field(default_factory=list)


class SingleProcess:
    """The communicator of a run in one process: rank 0 of 1, whose sums change nothing.

    The seam for data-parallel training: a communicator with `rank`, `size` and
    `sum(buffer)` (a sum over all processes, in place) lets `Trainer` combine the
    gradients of each process's rows of the batch, in the same loop.
    """

    rank, size = 0, 1

    def sum(self, buffer: np.ndarray) -> np.ndarray:
        """The element-wise sum of `buffer` over all processes."""
        return buffer


class Trainer:
    """Trains `network` with mini-batch gradient descent and records a `History`.

    x_*: (N, ...) inputs; t_*: labels (N,) or one-hot (N, C). Give `epochs` or `iters`
    (the seed recipe: 10,000 iterations). `rng` is the run's one Generator: it draws
    every mini-batch, so a seed fixes the whole run. `callbacks`: objects of
    `scratchdl.runtime.callbacks`, called in order at each hook; `verbose` adds a
    `Progress` (the epoch lines) unless one is given. `augment(x, rng)` transforms
    each batch; `eval_every` evaluates every that many iterations instead of once
    per epoch; `comm` combines gradients across processes (`SingleProcess`; over MPI
    see `scratchdl.runtime.distributed`), and splits evaluations among them.
    """

    def __init__(
        self,
        network: Net,
        x_train, t_train, x_test, t_test,
        *,
        epochs: float | None = None,
        iters: int | None = None,
        mini_batch_size: int = 100,
        optimizer: str = "sgd",
        optimizer_param: dict | None = None,
        evaluate_sample_num_per_epoch: int | None = None,
        gradient: str = "backprop",
        eval_every: int | None = None,
        rng: np.random.Generator | int | None = None,
        verbose: bool = True,
        augment: Callable | None = None,
        callbacks: Sequence = (),
        comm=None,
    ) -> None:
        train_size = x_train.shape[0]
        if x_train.shape[0] != t_train.shape[0] or x_test.shape[0] != t_test.shape[0]:
            raise UsageError("inputs and labels must have the same number of samples")
        if not 0 < mini_batch_size <= train_size:
            raise UsageError(f"batch size must be between 1 and the training set size "
                             f"{train_size}, got {mini_batch_size}")
        if (epochs is None) == (iters is None):
            raise UsageError("give exactly one of ${epochs} or ${iters}")
        if (iters is not None and iters < 1) or (epochs is not None and not epochs > 0):
            raise UsageError(f"the number of iterations/epochs must be positive, got "
                             f"{iters if iters is not None else epochs}")
        if gradient not in GRADIENTS:
            raise UsageError(f"gradient must be one of {', '.join(GRADIENTS)}, got {gradient!r}")
        comm = comm or SingleProcess()
        if comm.size > mini_batch_size:
            raise UsageError(f"{comm.size} processes need a batch of at least {comm.size} "
                             f"rows (one each), got {mini_batch_size}; use a larger batch size "
                             "or fewer processes")
        self.network = network
        self.x_train, self.x_test = asarray(x_train, network.dtype), asarray(x_test, network.dtype)
        self.t_train, self.t_test = asarray(t_train), asarray(t_test)
        self.batch_size = mini_batch_size
        self.iter_per_epoch = math.ceil(train_size / mini_batch_size)
        """Iterations per epoch: enough batches to draw as many samples as the set holds."""
        self.max_iter = iters if iters is not None else math.ceil(epochs * self.iter_per_epoch)
        self.eval_every = eval_every or self.iter_per_epoch
        self.evaluate_sample_num = evaluate_sample_num_per_epoch
        self.gradient = gradient
        try:
            options = {"lr": 0.01} if optimizer_param is None else optimizer_param
            self.optimizer = get_optimizer(optimizer, choices=FAST_OPTIMIZERS, **options)
        except (TypeError, ValueError) as e:
            raise UsageError(str(e)) from None
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.augment = augment
        self.comm = comm
        self.callbacks = list(callbacks)
        if verbose and not any(isinstance(cb, Progress) for cb in self.callbacks):
            self.callbacks.append(Progress())
        self.evaluator: Callable[[int], None] = self.evaluate_epoch
        """What runs at each evaluation point; a callback may take it over."""
        self.current_iter = 0
        self.history = History()
        self.elapsed = 0.0
        """Seconds of training before this call of `train` (a resumed run's earlier time)."""
        self.eval_seconds = 0.0
        """Seconds the final evaluation on the full sets took."""
        self.last_checkpoint = None
        """The checkpoint file written (or resumed from) last, once there is one."""
        self._started: float | None = None
        self._hooks: dict[str, list] = {}

    def train(self) -> tuple[float, float]:
        """The book's loop over the remaining iterations; final (train_acc, test_acc), full sets."""
        self._started, self._hooks = time.perf_counter(), {}
        self.call("on_train_begin")
        error = None
        try:
            for i in range(self.current_iter, self.max_iter):
                self.call("on_step_begin", i)
                grads, loss = self.train_step()
                self.call("on_gradient", i, loss)  # the divergence guard may stop here
                self.optimizer.update(self.network.params, grads)
                self.history.train_loss.append(loss)
                self.current_iter = i + 1
                if i % self.eval_every == 0:
                    self.evaluator(i)
                if self.current_iter % self.iter_per_epoch == 0:
                    self.call("on_epoch_end", self.current_iter // self.iter_per_epoch)
                self.call("on_step_end", i)
            self.sync()
        except BaseException as e:
            error = e
            raise
        finally:
            self.call("on_train_end", error)
            self.elapsed, self._started = self.training_time(), None
        start = time.perf_counter()
        accuracies = self.accuracies(full=True)
        self.eval_seconds = time.perf_counter() - start
        return accuracies

    def train_step(self) -> tuple[dict, float]:
        """Draw a batch and compute its gradients and loss (the update is the loop's).

        With several processes each takes its share of the batch's rows, and the
        shares' gradients are combined into the whole batch's (`combine`).
        """
        net = self.network
        batch_mask = asarray(self.rng.choice(self.x_train.shape[0], self.batch_size,
                                             replace=False))
        x_batch, t_batch = self.x_train[batch_mask], self.t_train[batch_mask]
        if self.augment is not None:
            x_batch = self.augment(x_batch, self.rng)
        if self.comm.size > 1:
            rows = self.share(self.batch_size)
            x_batch, t_batch = x_batch[rows], t_batch[rows]
        if self.gradient == "backprop":
            grads = net.gradient(x_batch, t_batch)
        else:
            grads = net.numerical_gradient(x_batch, t_batch)
        if self.comm.size > 1:
            return self.combine(grads, net.last_loss, len(x_batch) / self.batch_size)
        return grads, net.last_loss

    def combine(self, grads: dict, loss: float, weight: float) -> tuple[dict, float]:
        """The batch's mean gradients and loss from every process's share of its rows.

        Each process weighs its share's means by its fraction of the rows; one sum of
        one flat buffer (the gradients, then the loss) adds them up across processes.
        """
        names = list(grads)
        dtype = grads[names[0]].dtype
        flat = xp.concatenate([grads[k].ravel() for k in names] + [xp.asarray([loss], dtype)])
        flat *= weight
        flat = self.comm.sum(flat)
        bounds = np.cumsum([0] + [grads[k].size for k in names])
        combined = {k: flat[a:b].reshape(grads[k].shape)
                    for k, a, b in zip(names, bounds[:-1], bounds[1:], strict=True)}
        return combined, float(flat[-1])

    def share(self, n: int) -> slice:
        """This process's rows of n (shares differ by one row at most); all in one process."""
        return even_slices(n, self.comm.size)[self.comm.rank]

    def evaluate_epoch(self, i: int) -> None:
        """The book's evaluation after iteration i: accuracy on (a sample of) both sets."""
        elapsed = self.training_time()
        self.record_evaluation(i, *self.accuracies(), elapsed)

    def accuracies(self, full: bool = False, network: Net | None = None) -> tuple[float, float]:
        """Train and test accuracy of `network` (default the trainer's), on the first
        `evaluate_sample_num` samples unless `full`; callbacks hear of its progress.
        Of several processes each counts its share of the samples, and the counts are
        summed."""
        network = network or self.network
        n = None if full else self.evaluate_sample_num
        sets = [(self.x_train[:n], self.t_train[:n]), (self.x_test[:n], self.t_test[:n])]
        sizes = [len(x) for x, _ in sets]
        sets = [(x[self.share(len(x))], t[self.share(len(x))]) for x, t in sets]
        if network is self.network:
            self.call("on_evaluation_begin", sum(len(x) for x, _ in sets))
        correct = np.zeros(2)
        # A diverging run overflows quietly here: its guard reports it, once.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for k, (x, t) in enumerate(sets):
                for start in range(0, len(x), EVAL_CHUNK):
                    part = slice(start, start + EVAL_CHUNK)
                    correct[k] += round(network.accuracy(x[part], t[part]) * len(x[part]))
                    if network is self.network:
                        self.call("on_evaluation_progress", len(x[part]))
        if network is self.network:
            self.call("on_evaluation_end")
        correct = self.comm.sum(correct)  # each process counted its share of each set
        return float(correct[0] / sizes[0]), float(correct[1] / sizes[1])

    def record_evaluation(self, i: int, train_acc: float, test_acc: float,
                          elapsed: float) -> None:
        """Add the evaluation after iteration i to the history and tell the callbacks."""
        h = self.history
        h.train_acc.append(train_acc)
        h.test_acc.append(test_acc)
        h.eval_iters.append(i + 1)
        self.call("on_evaluation", i, train_acc, test_acc, elapsed)

    def training_time(self) -> float:
        """Seconds spent training: this call of `train` so far, plus earlier ones'."""
        if self._started is None:
            return self.elapsed
        return self.elapsed + time.perf_counter() - self._started

    def diverged(self, i: int, what: str) -> DivergenceError:
        """The one-line error of a run that blew up at iteration i: what, and what to try."""
        kept = ""
        if self.last_checkpoint is not None and self.last_checkpoint.exists():
            kept = f"; the last good checkpoint is kept in {self.last_checkpoint.parent}"
        return DivergenceError(f"training diverged at iteration {i + 1}: {what}; try a smaller "
                               f"learning rate (${{lr:{self.optimizer.lr / 10:g}}}){kept}")

    def sync(self) -> None:
        """Let callbacks finish work in flight (a background evaluation) before the
        trainer's state is read: at each checkpoint and at the end."""
        self.call("on_sync")

    def call(self, hook: str, *args) -> None:
        """Call `hook(self, *args)` on every callback that has it, in order."""
        methods = self._hooks.get(hook)
        if methods is None:
            methods = self._hooks[hook] = [getattr(cb, hook) for cb in self.callbacks
                                           if hasattr(cb, hook)]
        for method in methods:
            method(self, *args)


EVAL_CHUNK = 10_000
"""Images per progress report of an evaluation (the network batches them itself)."""
