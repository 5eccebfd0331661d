"""The training loop (chapters 4-6): mini-batches, epochs, evaluation, checkpoints.

`Trainer` runs the book's loop: each iteration draws `mini_batch_size` distinct
training samples at random, computes the gradient (backprop or numerical), and
lets the optimizer update the parameters. Every `iter_per_epoch = train_size /
batch_size` iterations it measures train and test accuracy, as the book's
`train_neuralnet.py` does. The trainer knows nothing of the model beyond
`params`, `gradient`, `numerical_gradient`, `loss` and `accuracy`.
"""

from __future__ import annotations

import copy
import math
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scratchdl.backend import asarray, on_gpu, to_numpy
from scratchdl.errors import DivergenceError, ModelFileError, ScratchdlError, UsageError
from scratchdl.io import CHECKPOINT_FORMAT, assign_arrays, model_arrays, read_npz, write_npz
from scratchdl.models import Net
from scratchdl.optim import get_optimizer
from scratchdl.threads import blas_threads, default_blas_threads, in_background

CHECKPOINT = "checkpoint.npz"
GRADIENTS = ("backprop", "numerical")


class Interrupted(ScratchdlError):
    """Training stopped by Ctrl-C after saving a checkpoint."""

    exit_code = 130


@dataclass
class History:
    """Loss per iteration; train and test accuracy at each evaluation."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    eval_iters: list[int] = field(default_factory=list)


def format_time(seconds: float) -> str:
    """Seconds as '42.0 s' or '3 min 05 s'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


class Trainer:
    """Trains `network` with mini-batch gradient descent and records a `History`.

    x_*: (N, ...) inputs; t_*: labels (N,) or one-hot (N, C). Give `epochs` or
    `iters` (the seed recipe: 10,000 iterations). `rng` is the run's one Generator:
    it draws every mini-batch, so a seed fixes the whole run. `step_threads` and
    `eval_threads` limit BLAS threads during training steps and evaluation (None:
    every thread). One thread suits small fully connected networks' steps, and
    every phase of convolutional networks, whose layers split the batch across
    the cores themselves (`scratchdl.threads.parallel_map`). `background_eval`
    evaluates a copy of the network on a second thread while training goes on
    (for networks whose steps use one core); results and log lines come in order
    as each finishes, and the numbers are those of evaluating in place.
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
        progress: bool | None = None,
        checkpoint_dir: str | Path | None = None,
        interrupt_dir: str | Path | None = None,
        augment: Callable | None = None,
        step_threads: int | None = None,
        eval_threads: int | None = None,
        background_eval: bool = False,
        lr_step: int | None = None,
        lr_gamma: float = 0.5,
        run_config: dict | None = None,
    ) -> None:
        train_size = x_train.shape[0]
        if x_train.shape[0] != t_train.shape[0] or x_test.shape[0] != t_test.shape[0]:
            raise UsageError("inputs and labels must have the same number of samples")
        if not 0 < mini_batch_size <= train_size:
            raise UsageError(
                f"batch size must be between 1 and the training set size {train_size}, "
                f"got {mini_batch_size}"
            )
        if (epochs is None) == (iters is None):
            raise UsageError("give exactly one of epochs or iters")
        if (iters is not None and iters < 1) or (epochs is not None and not epochs > 0):
            raise UsageError(f"the number of iterations/epochs must be positive, got "
                             f"{iters if iters is not None else epochs}")
        if gradient not in GRADIENTS:
            raise UsageError(f"gradient must be one of {', '.join(GRADIENTS)}, got {gradient!r}")
        self.network = network
        dtype = network.dtype
        self.x_train, self.x_test = asarray(x_train, dtype), asarray(x_test, dtype)
        self.t_train, self.t_test = asarray(t_train), asarray(t_test)
        self.batch_size = mini_batch_size
        self.iter_per_epoch = max(train_size / mini_batch_size, 1)
        self.max_iter = iters if iters is not None else int(math.ceil(epochs * self.iter_per_epoch))
        self.eval_every = eval_every
        self.evaluate_sample_num = evaluate_sample_num_per_epoch
        self.gradient = gradient
        self.optimizer_name = optimizer
        self.optimizer_param = dict(optimizer_param or {"lr": 0.01})
        try:
            self.optimizer = get_optimizer(optimizer, **self.optimizer_param)
        except (TypeError, ValueError) as e:
            raise UsageError(str(e)) from None
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.verbose = verbose
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.interrupt_dir = self.checkpoint_dir or (Path(interrupt_dir) if interrupt_dir else None)
        self.augment = augment
        self.step_threads = step_threads
        if lr_step is not None and (lr_step < 1 or not 0 < lr_gamma <= 1):
            raise UsageError(f"the learning-rate schedule needs lr_step >= 1 and 0 < lr_gamma "
                             f"<= 1, got {lr_step} and {lr_gamma}")
        self.lr_step, self.lr_gamma = lr_step, lr_gamma
        self.base_lr = self.optimizer.lr
        self.eval_threads = eval_threads or (default_blas_threads() if step_threads else None)
        self.background_eval = background_eval and not on_gpu()
        self._pending: tuple[Future, Callable] | None = None
        self.run_config = run_config or {}
        self.current_iter = 0
        self.history = History()
        self.elapsed = 0.0
        self._stop_requested = False

    def is_eval_iter(self, i: int) -> bool:
        """The book evaluates after iteration i when i % iter_per_epoch == 0."""
        every = self.eval_every or self.iter_per_epoch
        return i % every == 0

    def is_epoch_end(self, i: int) -> bool:
        """True after the last iteration of an epoch: where checkpoints are written."""
        return (i + 1) % max(int(round(self.iter_per_epoch)), 1) == 0

    def scheduled_lr(self, i: int) -> float:
        """The learning rate at iteration i: multiplied by lr_gamma every lr_step epochs."""
        if not self.lr_step:
            return self.base_lr
        epochs_done = int(i // max(int(round(self.iter_per_epoch)), 1))
        return self.base_lr * self.lr_gamma ** (epochs_done // self.lr_step)

    def train_step(self) -> float:
        """One iteration: draw a batch, compute the gradient, update. Returns the loss."""
        self.optimizer.lr = self.scheduled_lr(self.current_iter)
        net = self.network
        batch_mask = asarray(self.rng.choice(self.x_train.shape[0], self.batch_size, replace=False))
        x_batch, t_batch = self.x_train[batch_mask], self.t_train[batch_mask]
        if self.augment is not None:
            x_batch = self.augment(x_batch, self.rng)
        if self.gradient == "backprop":
            grads = net.gradient(x_batch, t_batch)
            loss = net.last_loss
        else:
            grads = net.numerical_gradient(x_batch, t_batch)
            loss = net.loss(x_batch, t_batch, train=True)
        if not math.isfinite(loss):
            return loss
        self.optimizer.update(net.params, grads)
        return loss

    def evaluate(self, full: bool = False) -> tuple[float, float]:
        """Train and test accuracy, on the first `evaluate_sample_num` samples unless `full`."""
        with blas_threads(self.eval_threads):
            return self._accuracies(self.network, full)

    def _accuracies(self, network: Net, full: bool = False) -> tuple[float, float]:
        n = None if full else self.evaluate_sample_num
        x_tr, t_tr, x_te, t_te = self.x_train, self.t_train, self.x_test, self.t_test
        if n is not None:
            x_tr, t_tr, x_te, t_te = x_tr[:n], t_tr[:n], x_te[:n], t_te[:n]
        # Quiet like the training loop, also on the background thread: divergence is
        # reported once, by the loop's guard.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return network.accuracy(x_tr, t_tr), network.accuracy(x_te, t_te)

    def log(self, message: str, bar) -> None:
        if self.verbose:
            if bar is not None and not bar.disable:
                bar.write(message)
            else:
                print(message, flush=True)

    def train(self) -> tuple[float, float]:
        """Run the remaining iterations; returns the final (train_acc, test_acc) on full sets."""
        bar = tqdm(total=self.max_iter, initial=self.current_iter, unit="it", leave=False,
                   disable=not (self.progress and self.verbose), dynamic_ncols=True)
        start_iter, start_time = self.current_iter, time.perf_counter()
        previous = self._install_sigint()
        try:
            # A diverging run overflows before the guard below sees the NaN: report it once.
            with (np.errstate(over="ignore", invalid="ignore", divide="ignore"),
                  blas_threads(self.step_threads)):
                for i in range(self.current_iter, self.max_iter):
                    loss = self.train_step()
                    if not math.isfinite(loss):
                        raise DivergenceError(
                            self._divergence_message(i, f"the loss became {loss}"))
                    self.history.train_loss.append(loss)
                    self.current_iter = i + 1
                    bar.update(1)
                    if self.is_eval_iter(i):
                        self._start_evaluation(i, bar, start_iter, start_time)
                    self._finish_evaluation(wait=False)
                    if self.checkpoint_dir and self.is_epoch_end(i):
                        self.save_checkpoint(self.checkpoint_dir, start_time)
                    if self._stop_requested:
                        self._interrupt(start_time)
                self._finish_evaluation(wait=True)
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        self.elapsed += time.perf_counter() - start_time
        if self.checkpoint_dir and not self.is_epoch_end(self.max_iter - 1):
            self.save_checkpoint(self.checkpoint_dir, None)
        return self.evaluate(full=True)

    def _start_evaluation(self, i: int, bar, start_iter: int, start_time: float) -> None:
        """Accuracy after iteration i: here, or from a snapshot on the background thread."""
        record = partial(self._record_evaluation, i, bar, i + 1 - start_iter,
                         time.perf_counter() - start_time, self.history.train_loss[-1])
        if not self.background_eval:
            record(*self.evaluate())
            return
        self._finish_evaluation(wait=True)
        snapshot = copy.deepcopy(self.network)
        self._pending = (in_background(self._accuracies, snapshot), record)

    def _finish_evaluation(self, wait: bool) -> None:
        """Record the background evaluation if it is done, or once it is when `wait`."""
        if self._pending is None or not (wait or self._pending[0].done()):
            return
        future, record = self._pending
        self._pending = None
        record(*future.result())

    def _record_evaluation(self, i: int, bar, done: int, elapsed: float, loss: float,
                           train_acc: float, test_acc: float) -> None:
        h = self.history
        h.train_acc.append(train_acc)
        h.test_acc.append(test_acc)
        h.eval_iters.append(i + 1)
        speed = ""
        if done >= 10 and elapsed > 0:
            rate = done / elapsed
            eta = (self.max_iter - i - 1) / rate
            speed = f", {rate:.1f} it/s, ETA {format_time(eta)}"
        epoch = int(i // self.iter_per_epoch)
        self.log(
            f"epoch {epoch:3d} | train acc, test acc | {train_acc:.4f}, {test_acc:.4f} | "
            f"loss {loss:.4f} | iter {i + 1}/{self.max_iter}, "
            f"{format_time(self.elapsed + elapsed)}{speed}",
            bar,
        )

    def _divergence_message(self, i: int, what: str) -> str:
        lr = self.optimizer_param.get("lr")
        kept = (f"; the last good checkpoint is kept in {self.checkpoint_dir}"
                if self.checkpoint_dir and (self.checkpoint_dir / CHECKPOINT).exists() else "")
        return (f"training diverged: {what} at iteration {i + 1}; "
                f"try a smaller learning rate (--lr {lr / 10:g}){kept}")

    def _install_sigint(self):
        """Make Ctrl-C finish the current iteration, then checkpoint and stop.

        Only when there is somewhere to save (`checkpoint_dir` or `interrupt_dir`);
        otherwise Ctrl-C raises KeyboardInterrupt as usual.
        """
        if self.interrupt_dir is None:
            return None
        try:
            return signal.signal(signal.SIGINT, self._request_stop)
        except ValueError:
            return None

    def _request_stop(self, signum, frame) -> None:
        if self._stop_requested:
            raise KeyboardInterrupt
        self._stop_requested = True

    def _interrupt(self, start_time: float) -> None:
        directory = self.interrupt_dir
        self.save_checkpoint(directory, start_time)
        raise Interrupted(
            f"interrupted at iteration {self.current_iter}/{self.max_iter}; checkpoint saved, "
            f"resume with `scratchdl train --resume {directory}`"
        )

    def save_checkpoint(self, directory: str | Path, start_time: float | None) -> Path:
        """Write everything needed to continue bit-identically, atomically."""
        self._finish_evaluation(wait=True)
        elapsed = self.elapsed + (time.perf_counter() - start_time if start_time else 0.0)
        arrays = {f"model/{n}": a for n, a in model_arrays(self.network).items()}
        opt = self.optimizer.state_dict()
        for slot, table in opt["state"].items():
            arrays.update({f"optim/{slot}/{k}": to_numpy(a) for k, a in table.items()})
        bad = [name for name, a in arrays.items() if not np.isfinite(a).all()]
        if bad:
            raise DivergenceError(self._divergence_message(
                self.current_iter - 1, f"{', '.join(bad)} became nan or inf"))
        header = {
            "format": CHECKPOINT_FORMAT,
            "config": self.network.config,
            "dtype": self.network.dtype.name,
            "run": self.run_config,
            "iteration": self.current_iter,
            "max_iter": self.max_iter,
            "elapsed": elapsed,
            "optimizer_iter": opt["iter"],
            "rng": self.rng.bit_generator.state,
            "history": asdict(self.history),
        }
        path = Path(directory) / CHECKPOINT
        write_npz(path, arrays, header)
        return path

    def load_checkpoint(self, directory: str | Path) -> None:
        """Restore parameters, optimizer state, generator state, iteration and history."""
        path = Path(directory) / CHECKPOINT
        header, arrays = read_npz(path, CHECKPOINT_FORMAT)
        model = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
        assign_arrays(self.network, model, path)
        state: dict = {}
        for key, value in arrays.items():
            if key.startswith("optim/"):
                _, slot, name = key.split("/", 2)
                state.setdefault(slot, {})[name] = asarray(value)
        self.optimizer.load_state_dict({"iter": header["optimizer_iter"], "state": state})
        try:
            self.rng.bit_generator.state = header["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ModelFileError(f"{path}: bad generator state ({e})") from None
        self.current_iter = int(header["iteration"])
        self.elapsed = float(header.get("elapsed", 0.0))
        self.history = History(**header["history"])
