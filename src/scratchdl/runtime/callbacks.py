"""Callbacks: what a long run needs around the book's loop, one small object each.

`Trainer(callbacks=[...])` calls each callback's hooks in list order, the trainer
first among the arguments. A callback defines only the hooks it needs:

    on_train_begin()                   before the first iteration of `train`
    on_step_begin(i)                   before iteration i draws its batch
    on_gradient(i, loss)               after iteration i's gradient, before the update
    on_evaluation(i, train_acc, test_acc, elapsed)   an evaluation was recorded
    on_evaluation_begin(total), on_evaluation_progress(n), on_evaluation_end()
    on_epoch_end(epoch)                after an epoch's last iteration
    on_step_end(i)                     after iteration i
    on_sync()                          finish work in flight (before checkpoints, at the end)
    on_train_end(error)                last, always; error: what ended the run, or None

Order matters where two meet: put `DivergenceGuard` before `Checkpoint`, so that a
blown-up state is caught at the end of an epoch before it could be saved.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.runtime.backend import on_gpu
from scratchdl.runtime.errors import UsageError
from scratchdl.runtime.threads import blas_threads, in_background

if TYPE_CHECKING:
    from scratchdl.train import Trainer

__all__ = ["BackgroundEvaluation", "BlasThreads", "Callback", "DivergenceGuard", "Progress",
           "StepDecay", "format_time"]


def format_time(seconds: float) -> str:
    """Seconds as '42.0 s' or '3 min 05 s'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


class Callback:
    """Base of the callbacks: any object with some of the hooks listed above will do."""


class Progress(Callback):
    """The epoch lines, and progress bars on a terminal (`bar`: None asks stderr).

    Each evaluation prints `epoch E | train acc, test acc | A, B | loss L | iter I/N,
    time, it/s, ETA`. On a terminal a bar follows the iterations, and any evaluation
    that takes more than a couple of seconds gets a bar of its own.
    """

    def __init__(self, bar: bool | None = None) -> None:
        self.bar = bar
        self.steps = self.images = None

    def enabled(self) -> bool:
        return sys.stderr.isatty() if self.bar is None else self.bar

    def on_train_begin(self, trainer: Trainer) -> None:
        self.start_iter, self.start_time = trainer.current_iter, trainer.training_time()
        if self.enabled():
            from tqdm import tqdm

            self.steps = tqdm(total=trainer.max_iter, initial=trainer.current_iter, unit="it",
                              leave=False, dynamic_ncols=True)

    def on_step_end(self, trainer: Trainer, i: int) -> None:
        if self.steps is not None:
            self.steps.update(1)

    def on_evaluation(self, trainer: Trainer, i: int, train_acc: float, test_acc: float,
                      elapsed: float) -> None:
        done, seconds = i + 1 - self.start_iter, elapsed - self.start_time
        speed = ""
        if done >= 10 and seconds > 0:
            eta = (trainer.max_iter - i - 1) * seconds / done
            speed = f", {done / seconds:.1f} it/s, ETA {format_time(eta)}"
        self.write(f"epoch {i // trainer.iter_per_epoch:3d} | train acc, test acc | "
                   f"{train_acc:.4f}, {test_acc:.4f} | loss {trainer.history.train_loss[i]:.4f} "
                   f"| iter {i + 1}/{trainer.max_iter}, {format_time(elapsed)}{speed}")

    def on_evaluation_begin(self, trainer: Trainer, total: int) -> None:
        if self.enabled():
            from tqdm import tqdm

            self.images = tqdm(total=total, unit="img", desc="evaluating", leave=False,
                               delay=2, dynamic_ncols=True)

    def on_evaluation_progress(self, trainer: Trainer, n: int) -> None:
        if self.images is not None:
            self.images.update(n)

    def on_evaluation_end(self, trainer: Trainer) -> None:
        if self.images is not None:
            self.images.close()
            self.images = None

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        if self.steps is not None:
            self.steps.close()
            self.steps = None

    def write(self, line: str) -> None:
        if self.steps is not None:
            self.steps.write(line)
        else:
            print(line, flush=True)


class BlasThreads(Callback):
    """At most `n` BLAS threads while training (evaluation afterwards uses them all).

    A small fully connected network's products are too small to split: on a busy
    machine a second BLAS thread waiting for a core makes every step slower.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.limit = contextlib.ExitStack()

    def on_train_begin(self, trainer: Trainer) -> None:
        self.limit.enter_context(blas_threads(self.n))

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        self.limit.close()


class BackgroundEvaluation(Callback):
    """Evaluate a copy of the network on a second thread while the steps go on.

    For networks whose steps use one core. Results are recorded in order, each as
    soon as it is ready; the numbers are those of evaluating in place. On a GPU, and
    with several processes (MPI is called from the main thread only), the evaluations
    stay in place.
    """

    def __init__(self) -> None:
        self.pending = None

    def on_train_begin(self, trainer: Trainer) -> None:
        if not on_gpu() and trainer.comm.size == 1:
            trainer.evaluator = lambda i: self.start(trainer, i)

    def start(self, trainer: Trainer, i: int) -> None:
        self.finish(trainer, wait=True)
        snapshot = copy.deepcopy(trainer.network)
        future = in_background(trainer.accuracies, False, snapshot)
        self.pending = (future, i, trainer.training_time())

    def finish(self, trainer: Trainer, wait: bool) -> None:
        """Record the evaluation in flight if it is done, or once it is when `wait`."""
        if self.pending is None or not (wait or self.pending[0].done()):
            return
        future, i, elapsed = self.pending
        self.pending = None
        trainer.record_evaluation(i, *future.result(), elapsed)

    def on_step_end(self, trainer: Trainer, i: int) -> None:
        self.finish(trainer, wait=False)

    def on_sync(self, trainer: Trainer) -> None:
        self.finish(trainer, wait=True)

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        if self.pending is not None:
            self.pending[0].exception()  # let it end; a stopped run records nothing more
        self.pending = None
        trainer.evaluator = trainer.evaluate_epoch


class StepDecay(Callback):
    """A step learning-rate schedule: the rate times `gamma` every `step_epochs` epochs."""

    def __init__(self, step_epochs: int, gamma: float = 0.5) -> None:
        if step_epochs < 1 or not 0 < gamma <= 1:
            raise UsageError(f"the learning-rate schedule needs step_epochs >= 1 and "
                             f"0 < gamma <= 1, got {step_epochs} and {gamma}")
        self.step_epochs, self.gamma = step_epochs, gamma
        self.base_lr: float | None = None

    def factor(self, epoch: int) -> float:
        """The learning rate of `epoch` (0-based) over the base rate."""
        return self.gamma ** (epoch // self.step_epochs)

    def on_train_begin(self, trainer: Trainer) -> None:
        if self.base_lr is None:
            self.base_lr = trainer.optimizer.lr

    def on_step_begin(self, trainer: Trainer, i: int) -> None:
        trainer.optimizer.lr = self.base_lr * self.factor(i // trainer.iter_per_epoch)


class DivergenceGuard(Callback):
    """Stop a run whose loss became NaN or infinite, or rose well above where it started.

    Diverged: the mean loss of the last `window` iterations is above `factor` times
    the first iteration's loss (and at least 1 above it), or any loss is not finite.
    At the end of each epoch the last `window // 10` iterations are held to the same
    line, so that a checkpoint is never taken of a state that has just blown up. The
    step that trips the guard is not applied.

    Measured on the seed recipe (first loss 2.30, so the line is 4.6): runs that blow
    up (sigmoid lr 30 or 100, ReLU lr 3) hold a mean of 12-15 from their first few
    iterations on; runs that learn (sigmoid lr 0.1-10, ReLU lr 0.1-2) and runs whose
    ReLUs die at lr 10 (loss 2.35) never reach 2.6 over 100 iterations, nor 3.8 over 10.
    """

    def __init__(self, window: int = 100, factor: float = 2.0) -> None:
        self.window, self.factor = window, factor
        self.quiet = contextlib.ExitStack()

    def line(self, trainer: Trainer, loss: float) -> float:
        """The loss above which the run has blown up: set by its first iteration."""
        first = trainer.history.train_loss[0] if trainer.history.train_loss else loss
        return max(self.factor * first, first + 1.0)

    def on_train_begin(self, trainer: Trainer) -> None:
        self.total = math.fsum(trainer.history.train_loss[-self.window:])
        # A run that blows up overflows before its loss turns NaN: it is reported once, here.
        self.quiet.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        self.quiet.close()

    def on_gradient(self, trainer: Trainer, i: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise trainer.diverged(i, f"the loss became {loss}")
        losses = trainer.history.train_loss
        self.total += loss - (losses[i - self.window] if i >= self.window else 0.0)
        if i + 1 >= self.window:
            self.check(trainer, i, self.total / self.window, self.window, loss)

    def on_epoch_end(self, trainer: Trainer, epoch: int) -> None:
        n = max(self.window // 10, 1)
        recent = trainer.history.train_loss[-n:]
        if len(recent) == n:
            self.check(trainer, trainer.current_iter - 1, sum(recent) / n, n, recent[-1])

    def check(self, trainer: Trainer, i: int, mean: float, n: int, loss: float) -> None:
        line = self.line(trainer, loss)
        if mean > line:
            first = trainer.history.train_loss[0] if trainer.history.train_loss else loss
            raise trainer.diverged(i, f"the mean loss of the last {n} iterations is "
                           f"{mean:.2f}, against {first:.2f} at the start")
