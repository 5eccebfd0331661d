"""Checkpoints: everything a `Trainer` needs to continue a run bit for bit.

A checkpoint is `DIR/checkpoint.npz`, one of our `.npz` files (JSON header,
`allow_pickle=False`): the model's arrays (`model/W1`, ...), the optimizer's
state (`optim/v/W1`, ...), and in the header the architecture, the run's
settings, the iteration, the generator's state and the history. It is written
atomically, so a crash mid-write leaves the previous checkpoint whole.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from scratchdl.io import CHECKPOINT_FORMAT, assign_arrays, model_arrays, read_npz, write_npz
from scratchdl.runtime.backend import asarray, to_numpy
from scratchdl.runtime.errors import ModelFileError
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
