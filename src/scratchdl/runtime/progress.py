"""Progress: the epoch lines a run prints, and bars on a terminal.

The book's trainer prints a line per epoch when `verbose`; `Progress` is that, as
a callback of `scratchdl.runtime.callbacks` (where the other callbacks are).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scratchdl.train import Trainer


def format_time(seconds: float) -> str:
    """Seconds as '42.0 s' or '3 min 05 s'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


class Callback:
    """Base of the callbacks of `scratchdl.runtime.callbacks`; any object with some of the
    hooks listed there will do."""


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
