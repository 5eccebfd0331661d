"""The lab's runs: each the library's `Trainer` on a thread of its own, driven by the run
itself as a callback, which records what the page shows and obeys pause, step and stop.

A run's numbers are `scratchdl train`'s for the same recipe: the network comes from
`make_model` and the trainer from `trainer_options`, with the run's one generator; the
views are computed from copies and draw nothing from it.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import threading
import time

import numpy as np

from scratchdl.app.lab.config import Limits, iterations
from scratchdl.app.lab.datasets import DataSets
from scratchdl.app.lab.turns import Turn, Turns
from scratchdl.app.lab.views import boundary_grid, bounds_of, views
from scratchdl.app.recipe import make_model, trainer_options
from scratchdl.runtime.callbacks import Callback, DivergenceGuard
from scratchdl.runtime.errors import ScratchdlError
from scratchdl.train import History, Trainer

STATES = ("running", "paused", "finished", "failed", "stopped")
"""A run's states; the last three are final."""

VIEW_SECONDS = 0.5
"""Seconds between two views of a running run (a paused run's steps each get one)."""
SAMPLE_SIZE = 200
"""Training samples the activation histograms are taken on."""
LOSS_POINTS = 1000
"""Losses in a snapshot, at most: beyond, every k-th iteration's."""
LOSSES_PER_EVENT = 20_000
"""Losses in one event, at most: a watcher joining a long run catches up over a few."""

log = logging.getLogger("scratchdl.lab")


class Stop(BaseException):
    """Ends a run's thread before its next step: the run was deleted, or nobody watches it."""


class TooManyRuns(ScratchdlError):
    """The server trains as many runs as it may at once."""


class LabTrainer(Trainer):
    """The library's Trainer, keeping each step's gradients for the views to read."""

    grads: dict | None = None

    def train_step(self) -> tuple[dict, float]:
        self.grads, loss = super().train_step()
        return self.grads, loss


class Run(Callback):
    """One training run: its recipe, its thread, its history and its latest views.

    The thread trains; every other thread only reads, or asks through `pause`, `resume`,
    `step` and `stop`. `version` grows with every change, so a watcher knows when to look.
    """

    def __init__(self, run_id: str, recipe: dict, data: DataSets, turns: Turns,
                 paused: bool = False, speed: float = 0.0) -> None:
        self.id, self.recipe, self.data, self.speed = run_id, recipe, data, speed
        self.turn = Turn(turns)
        self.state = "paused" if paused else "running"
        self.max_iter = iterations(recipe)
        self.iteration = 0
        self.history: History | None = None
        self.views: dict | None = None
        self.views_version = 0
        self.version = 0
        self.error: str | None = None
        self.final: dict | None = None
        self.watchers = 0
        """Event streams open on this run."""
        self.last_seen = time.monotonic()
        self.speed_sample = (time.monotonic(), 0)
        self.its_per_second = 0.0
        self.changed = threading.Condition()
        self.steps_asked = 0
        self.stopping = False
        self.next_view = 0.0
        self.viewing = False
        self.next_step = 0.0
        self.sample = None
        """Training samples the activation histograms are taken on."""
        self.boundary: tuple | None = None
        """For points in the plane: the decision-boundary map's grid and bounds."""
        self.thread = threading.Thread(target=self.main, name=f"lab-run-{run_id}", daemon=True)

    # -- asked by the server --------------------------------------------------------------
    def pause(self) -> None:
        with self.changed:
            if self.state == "running":
                self.state = "paused"
                self.touch()

    def resume(self) -> None:
        with self.changed:
            if self.state == "paused":
                self.state = "running"
                self.steps_asked = 0  # a step not yet taken is part of the run now
                self.touch()

    def step(self) -> None:
        """One more iteration of a paused run."""
        with self.changed:
            self.steps_asked += 1
            self.changed.notify_all()

    def stop(self) -> None:
        """End the run before its next step (its thread finishes the step under way)."""
        with self.changed:
            self.stopping = True
            self.changed.notify_all()

    def touch(self) -> None:
        self.version += 1
        self.changed.notify_all()

    @property
    def alive(self) -> bool:
        return self.state in ("running", "paused")

    # -- the thread -----------------------------------------------------------------------
    def main(self) -> None:
        try:
            x_train, t_train, x_test, t_test = self.data.for_run(self.recipe)
            rng = np.random.default_rng(self.recipe["seed"])
            classes = int(max(t_train.max(), t_test.max())) + 1
            model = make_model(self.recipe, x_train.shape[1], classes, rng)
            self.sample = x_train[:SAMPLE_SIZE]
            if x_train.shape[1] == 2:
                bounds = bounds_of(x_train, x_test)
                self.boundary = (boundary_grid(bounds), bounds)
            trainer = LabTrainer(model, x_train, t_train, x_test, t_test, rng=rng, verbose=False,
                                 callbacks=[DivergenceGuard(), self],
                                 **trainer_options(self.recipe))
            self.history = trainer.history
            train_acc, test_acc = trainer.train()
            self.final = {"train_acc": train_acc, "test_acc": test_acc}
            self.end("finished")
        except Stop:
            self.end("stopped")
        except ScratchdlError as e:
            self.end("failed", str(e))
        except MemoryError:
            self.end("failed", "out of memory: choose a smaller network or training set")
        except Exception as e:
            log.exception("lab run %s failed", self.id)
            self.end("failed", f"internal error ({type(e).__name__}): {e}")

    def end(self, state: str, error: str | None = None) -> None:
        with self.changed:
            self.state, self.error = state, error
            self.sample = self.boundary = None
            self.touch()

    def on_train_begin(self, trainer: Trainer) -> None:
        self.show(trainer)

    def on_step_begin(self, trainer: Trainer, i: int) -> None:
        with self.changed:
            while self.state == "paused" and not self.steps_asked and not self.stopping:
                self.turn.give()
                self.changed.wait()
            if self.stopping:
                raise Stop
            if self.state == "paused":
                self.steps_asked -= 1
        if self.speed:
            now = time.monotonic()
            if self.next_step > now:
                self.turn.give()
                time.sleep(self.next_step - now)
            self.next_step = max(self.next_step, now) + 1 / self.speed
        self.turn.take()

    def on_gradient(self, trainer: Trainer, i: int, loss: float) -> None:
        now = time.monotonic()
        self.viewing = self.state == "paused" or now >= self.next_view or i + 1 == self.max_iter
        if self.viewing:
            self.next_view = now + VIEW_SECONDS

    def on_step_end(self, trainer: Trainer, i: int) -> None:
        if self.viewing:
            self.show(trainer)
        self.iteration = i + 1
        self.version += 1
        self.turn.done_step()

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        self.turn.give()

    def on_evaluation(self, trainer: Trainer, i: int, train_acc: float, test_acc: float,
                      elapsed: float) -> None:
        self.version += 1

    def show(self, trainer: LabTrainer) -> None:
        """New views of the network, and the iterations per second since the last ones."""
        self.views = views(trainer.network, self.sample, trainer.grads, self.boundary)
        self.views_version += 1
        now, done = time.monotonic(), trainer.current_iter
        then, before = self.speed_sample
        if now > then and done > before:
            self.its_per_second = (done - before) / (now - then)
        self.speed_sample = (now, done)

    # -- what watchers read ---------------------------------------------------------------
    def summary(self) -> dict:
        return {"id": self.id, "state": self.state, "iteration": self.iteration,
                "max_iter": self.max_iter, "config": self.recipe}

    def snapshot(self, since: int | None = None) -> dict:
        """The run as JSON. loss: every iteration's loss from iteration `since` on, or
        without `since` at most LOSS_POINTS of them (every `loss_step`-th)."""
        losses = self.history.train_loss if self.history is not None else []
        if since is not None:
            step, loss = 1, losses[since:]
        else:
            step = max(1, math.ceil(len(losses) / LOSS_POINTS))
            loss = losses[step - 1::step]
        h = self.history
        return {
            **self.summary(),
            "loss": loss, "loss_step": step, "loss_from": since or 0,
            "eval_iters": list(h.eval_iters) if h else [],
            "train_acc": list(h.train_acc) if h else [],
            "test_acc": list(h.test_acc) if h else [],
            "final": self.final, "error": self.error,
            "its_per_second": round(self.its_per_second, 1) if self.alive else 0.0,
            "watchers": self.watchers,
        }

    def news(self, cursor: dict) -> dict | None:
        """What changed since `cursor` (a watcher's marks, moved on): new losses (up to
        LOSSES_PER_EVENT; the rest next time) and evaluations, new views, a new state; None
        when nothing did."""
        if cursor.get("version") == self.version:
            return None
        h = self.history
        losses = h.train_loss if h else []
        n_loss, n_eval = cursor.get("loss", 0), cursor.get("evals", 0)
        update = {"id": self.id, "state": self.state, "iteration": self.iteration,
                  "max_iter": self.max_iter, "loss_from": n_loss,
                  "loss": losses[n_loss:n_loss + LOSSES_PER_EVENT],
                  "its_per_second": round(self.its_per_second, 1) if self.alive else 0.0}
        cursor["loss"] = n_loss + len(update["loss"])
        caught_up = cursor["loss"] >= len(losses)
        cursor["version"] = self.version if caught_up else None
        if h and len(h.eval_iters) > n_eval:
            n = len(h.eval_iters)
            update["evals"] = {"from": n_eval, "iters": h.eval_iters[n_eval:n],
                               "train_acc": h.train_acc[n_eval:n],
                               "test_acc": h.test_acc[n_eval:n]}
            cursor["evals"] = n
        if self.views is not None and cursor.get("views") != self.views_version:
            update["views"] = self.views
            cursor["views"] = self.views_version
        if not self.alive:
            update.update(final=self.final, error=self.error)
        return update


class Runs:
    """The server's runs by id: at most `limits.max_runs` training or paused at once, of
    which `turns` step at a time (`Turns`); a run nobody watches for `idle_seconds` is
    stopped and forgotten (`reap`).

    Watching is an open event stream on the run, or any request about it. Used from the
    event loop's thread only.
    """

    def __init__(self, limits: Limits, data: DataSets, idle_seconds: float, turns: int) -> None:
        self.limits, self.data, self.idle_seconds = limits, data, idle_seconds
        self.turns = Turns(turns)
        self.runs: dict[str, Run] = {}
        self.counter = itertools.count(1)

    def start(self, recipe: dict, paused: bool = False, speed: float = 0.0) -> Run:
        if self.alive() >= self.limits.max_runs:
            raise TooManyRuns(f"{self.alive()} runs are training, the most this server "
                              f"allows at once ({self.limits.max_runs}); delete one or wait "
                              "for one to finish (`scratchdl lab --max-runs N` allows more)")
        run_id = f"{next(self.counter)}-{secrets.token_hex(3)}"
        run = self.runs[run_id] = Run(run_id, recipe, self.data, self.turns, paused, speed)
        run.thread.start()
        return run

    def get(self, run_id: str) -> Run | None:
        run = self.runs.get(run_id)
        if run is not None:
            run.last_seen = time.monotonic()
        return run

    def delete(self, run_id: str) -> bool:
        run = self.runs.pop(run_id, None)
        if run is not None:
            run.stop()
        return run is not None

    def alive(self) -> int:
        """Runs training or paused."""
        return sum(run.alive for run in self.runs.values())

    def reap(self) -> list[str]:
        """Stop and forget the runs nobody watches; their ids."""
        now = time.monotonic()
        idle = [run_id for run_id, run in self.runs.items()
                if not run.watchers and now - run.last_seen > self.idle_seconds]
        for run_id in idle:
            self.delete(run_id)
        return idle

    def stop_all(self) -> None:
        for run_id in list(self.runs):
            self.delete(run_id)
