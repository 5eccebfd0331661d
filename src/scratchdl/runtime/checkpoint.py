"""Checkpoints: everything a `Trainer` needs to continue a run bit for bit.

A checkpoint is `DIR/checkpoint.npz`, one of our `.npz` files (JSON header,
`allow_pickle=False`): the model's arrays (`model/W1`, ...), the optimizer's
state (`optim/v/W1`, ...), and in the header the architecture, the run's
settings, the iteration, the generator's state and the history. It is written
atomically, so a crash mid-write leaves the previous checkpoint whole. The callbacks
`Checkpoint` (after every epoch) and `Interrupt` (on Ctrl-C) write them during a run.
"""

from __future__ import annotations

import contextlib
import signal
from dataclasses import asdict
from pathlib import Path

import numpy as np

from scratchdl.io import CHECKPOINT_FORMAT, assign_arrays, model_arrays, read_npz, write_npz
from scratchdl.runtime.backend import asarray, to_numpy
from scratchdl.runtime.callbacks import Callback
from scratchdl.runtime.errors import ModelFileError, ScratchdlError
from scratchdl.train import History, Trainer

CHECKPOINT = "checkpoint.npz"


def save_checkpoint(trainer: Trainer, directory: str | Path, run_config: dict | None = None,
                    ) -> Path:
    """Write the trainer's state to DIR/checkpoint.npz; `run_config`: the run's settings.

    Parameters that became NaN or infinite are never written: the previous
    checkpoint stays, and the run stops as diverged.
    """
    arrays = {f"model/{n}": a for n, a in model_arrays(trainer.network).items()}
    opt = trainer.optimizer.state_dict()
    for slot, table in opt["state"].items():
        arrays.update({f"optim/{slot}/{k}": to_numpy(a) for k, a in table.items()})
    bad = [name for name, a in arrays.items() if not np.isfinite(a).all()]
    if bad:
        raise trainer.diverged(trainer.current_iter - 1, f"{', '.join(bad)} became nan or inf")
    header = {
        "format": CHECKPOINT_FORMAT,
        "config": trainer.network.config,
        "dtype": trainer.network.dtype.name,
        "run": run_config or {},
        "iteration": trainer.current_iter,
        "max_iter": trainer.max_iter,
        "elapsed": trainer.training_time(),
        "optimizer_iter": opt["iter"],
        "rng": trainer.rng.bit_generator.state,
        "history": asdict(trainer.history),
    }
    path = Path(directory) / CHECKPOINT
    write_npz(path, arrays, header)
    trainer.last_checkpoint = path
    return path


def load_checkpoint(trainer: Trainer, directory: str | Path) -> dict:
    """Restore parameters, optimizer state, generator state, iteration and history.

    Returns the checkpoint's header.
    """
    path = Path(directory) / CHECKPOINT
    header, arrays = read_npz(path, CHECKPOINT_FORMAT)
    model = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
    assign_arrays(trainer.network, model, path)
    state: dict = {}
    for key, value in arrays.items():
        if key.startswith("optim/"):
            _, slot, name = key.split("/", 2)
            state.setdefault(slot, {})[name] = asarray(value)
    trainer.optimizer.load_state_dict({"iter": header["optimizer_iter"], "state": state})
    try:
        trainer.rng.bit_generator.state = header["rng"]
    except (TypeError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path}: bad generator state ({e})") from None
    trainer.current_iter = int(header["iteration"])
    trainer.elapsed = float(header.get("elapsed", 0.0))
    trainer.history = History(**header["history"])
    trainer.last_checkpoint = path
    return header


class Checkpoint(Callback):
    """Write DIR/checkpoint.npz after every epoch, and at the end of a run that stops
    mid-epoch (so that `--resume DIR --iters N` can extend it). Of several processes,
    rank 0 writes it."""

    def __init__(self, directory: str | Path, run_config: dict | None = None) -> None:
        self.directory, self.run_config = Path(directory), run_config

    def save(self, trainer: Trainer) -> Path:
        trainer.sync()
        if trainer.comm.rank != 0:
            return self.directory / CHECKPOINT
        return save_checkpoint(trainer, self.directory, self.run_config)

    def on_epoch_end(self, trainer: Trainer, epoch: int) -> None:
        self.save(trainer)

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        if error is None and trainer.current_iter % trainer.iter_per_epoch != 0:
            self.save(trainer)


class Interrupted(ScratchdlError):
    """Training stopped by Ctrl-C after saving a checkpoint."""

    exit_code = 130


class Interrupt(Callback):
    """Ctrl-C finishes the current iteration, writes a checkpoint to DIR and stops.

    A second Ctrl-C stops at once (KeyboardInterrupt). Outside the main thread, where
    no signal handler can be set, Ctrl-C keeps its usual meaning. Under mpiexec, which
    passes Ctrl-C on to every process, they agree after each iteration whether any
    has been asked to stop, and all stop at the same one.
    """

    def __init__(self, directory: str | Path, run_config: dict | None = None) -> None:
        self.checkpoint = Checkpoint(directory, run_config)
        self.previous = None
        self.requested = False

    def on_train_begin(self, trainer: Trainer) -> None:
        self.requested = False
        with contextlib.suppress(ValueError):
            self.previous = signal.signal(signal.SIGINT, self.request)

    def request(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_step_end(self, trainer: Trainer, i: int) -> None:
        asked = self.requested
        if trainer.comm.size > 1:  # a Ctrl-C that comes during the vote counts at the next
            asked = trainer.comm.sum(np.array([float(asked)]))[0] > 0
        if asked:
            self.checkpoint.save(trainer)
            raise Interrupted(
                f"interrupted at iteration {trainer.current_iter}/{trainer.max_iter}; checkpoint "
                f"saved, resume with ${{resume:{self.checkpoint.directory}}}")

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None
