"""Crash-safe training: kill or Ctrl-C a real run, resume it, get the same bits.

The trainer writes `DIR/checkpoint.npz` atomically after every epoch (and on
Ctrl-C); `scratchdl train --resume DIR` continues from it with the recorded
recipe and generator state, so the final parameters equal an uninterrupted run's.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from helpers import arrays_of, header_of, host, run_cli

from scratchdl.app.cli import as_flag
from scratchdl.io import HEADER, model_arrays
from scratchdl.models import TwoLayerNet
from scratchdl.runtime.checkpoint import (
    CHECKPOINT,
    Checkpoint,
    Interrupt,
    Interrupted,
    load_checkpoint,
)
from scratchdl.runtime.errors import ModelFileError, spelling_arguments
from scratchdl.train import Trainer

ITERS = 300
RECIPE = ["train", "--model", "two-layer", "--iters", str(ITERS), "--batch-size", "1000",
          "--seed", "0", "--evaluate-sample-num", "500", "--quiet"]
"""Five epochs of 60 iterations: a second or two, so a signal lands mid-run."""

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""One BLAS thread per child: on a busy machine, threads contending for the cores
make these small products many times slower."""


def scratchdl(*args) -> subprocess.CompletedProcess:
    """Run the real entry point `python -m scratchdl ARGS` to completion."""
    return subprocess.run([sys.executable, "-m", "scratchdl", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=ENV)


def start(*args) -> subprocess.Popen:
    """Start `python -m scratchdl ARGS` in the background."""
    return subprocess.Popen([sys.executable, "-m", "scratchdl", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until `path` exists (the first checkpoint), while `proc` still runs."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"training ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)


def assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """Same names, dtypes, shapes and bits."""
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mnist) -> dict[str, np.ndarray]:
    """The final parameters of the uninterrupted run (no checkpoints at all)."""
    path = tmp_path_factory.mktemp("reference") / "final.npz"
    result = scratchdl(*RECIPE, "--save", path)
    assert result.returncode == 0, result.stderr
    return arrays_of(path)


def test_sigkill_mid_run_then_resume_is_bit_identical(reference, tmp_path):
    """SIGKILL after a checkpoint; `--resume` finishes with the uninterrupted run's bits."""
    ckpt = tmp_path / "ckpt"
    proc = start(*RECIPE, "--checkpoint-dir", ckpt, "--save", tmp_path / "final.npz")
    wait_for(ckpt / CHECKPOINT, proc)
    time.sleep(0.02)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "final.npz").exists()
    done = header_of(ckpt / CHECKPOINT)["iteration"]
    assert done % 60 == 0 and 60 <= done < ITERS

    result = scratchdl("train", "--resume", ckpt, "--save", tmp_path / "resumed.npz", "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"({ITERS} iterations" in result.stdout
    assert_bit_identical(arrays_of(tmp_path / "resumed.npz"), reference)
    assert header_of(ckpt / CHECKPOINT)["iteration"] == ITERS


def test_ctrl_c_checkpoints_then_resume_is_bit_identical(reference, tmp_path):
    """SIGINT: exit 130 with the resume hint; the checkpoint resumes to the same bits."""
    ckpt = tmp_path / "ckpt"
    proc = start(*RECIPE, "--checkpoint-dir", ckpt, "--save", tmp_path / "final.npz")
    wait_for(ckpt / CHECKPOINT, proc)
    time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"scratchdl: error: interrupted at iteration {header_of(ckpt / CHECKPOINT)['iteration']}"
        f"/{ITERS}; checkpoint saved, resume with `scratchdl train --resume {ckpt}`"]
    assert not (tmp_path / "final.npz").exists()
    assert 60 <= header_of(ckpt / CHECKPOINT)["iteration"] < ITERS

    result = scratchdl("train", "--resume", ckpt, "--save", tmp_path / "resumed.npz", "--quiet")
    assert result.returncode == 0, result.stderr
    assert_bit_identical(arrays_of(tmp_path / "resumed.npz"), reference)


def small_trainer(mnist, iters: int, **kwargs) -> Trainer:
    """A fast in-process run on 3,000 images: 30 iterations per epoch, seed 0."""
    (x_train, t_train), (x_test, t_test) = mnist
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 30, 10, rng=rng, dtype=np.float32)
    return Trainer(net, x_train[:3000], t_train[:3000], x_test[:500], t_test[:500],
                   iters=iters, mini_batch_size=100, optimizer="momentum",
                   optimizer_param={"lr": 0.1}, rng=rng, verbose=False, **kwargs)


@pytest.mark.xp
def test_ctrl_c_in_process_without_checkpoint_dir(mnist, tmp_path, monkeypatch):
    """Ctrl-C mid-epoch with no --checkpoint-dir saves ./scratchdl-checkpoint; resuming
    from it reproduces parameters, optimizer state and history exactly."""
    monkeypatch.chdir(tmp_path)
    reference = small_trainer(mnist, 100)
    reference.train()
    calls = []

    def press_ctrl_c_at_iteration_45(x, rng):
        calls.append(1)
        if len(calls) == 45:
            os.kill(os.getpid(), signal.SIGINT)
        return x

    handler = signal.getsignal(signal.SIGINT)
    interrupted = small_trainer(mnist, 100, augment=press_ctrl_c_at_iteration_45,
                                callbacks=[Interrupt("scratchdl-checkpoint")])
    with pytest.raises(Interrupted) as info:
        interrupted.train()
    assert info.value.exit_code == 130
    assert "resume with load_checkpoint(trainer, 'scratchdl-checkpoint')" in str(info.value)
    with spelling_arguments(as_flag):  # as the command line says it
        assert "resume with `scratchdl train --resume scratchdl-checkpoint`" in str(info.value)
    assert signal.getsignal(signal.SIGINT) is handler
    assert header_of(tmp_path / "scratchdl-checkpoint" / CHECKPOINT)["iteration"] == 45

    resumed = small_trainer(mnist, 100)
    load_checkpoint(resumed, "scratchdl-checkpoint")
    assert resumed.current_iter == 45
    resumed.train()
    assert_bit_identical(model_arrays(resumed.network), model_arrays(reference.network))
    velocities = [{k: host(v) for k, v in t.optimizer.state_dict()["state"]["v"].items()}
                  for t in (resumed, reference)]
    assert_bit_identical(*velocities)
    assert asdict(resumed.history) == asdict(reference.history)


@pytest.mark.xp
@pytest.mark.parametrize("failure", ["crash", "disk-full"])
def test_failed_checkpoint_write_keeps_the_previous_one(failure, mnist, tmp_path, monkeypatch):
    """A write that dies halfway leaves the previous checkpoint intact and no temp files;
    a full disk is reported as one clear error."""
    trainer = small_trainer(mnist, 90, callbacks=[Checkpoint(tmp_path)])
    path = tmp_path / CHECKPOINT
    real_savez = np.savez
    saved: list[bytes] = []

    def savez_failing_the_second_time(f, **arrays):
        if path.exists():
            saved.append(path.read_bytes())
            real_savez(io.BytesIO(), **arrays)
            f.write(b"PK\x03\x04 half a checkpoint")
            if failure == "crash":
                raise RuntimeError("simulated crash while writing")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_savez(f, **arrays)

    monkeypatch.setattr(np, "savez", savez_failing_the_second_time)
    expected = (RuntimeError, "simulated crash") if failure == "crash" else (
        ModelFileError, f"cannot write {path}: No space left on device")
    with pytest.raises(expected[0], match=expected[1]):
        trainer.train()
    assert saved and path.read_bytes() == saved[0]
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT]
    monkeypatch.undo()
    again = small_trainer(mnist, 90)
    load_checkpoint(again, tmp_path)
    assert again.current_iter == 30


def test_checkpoint_dir_under_a_regular_file(mnist, tmp_path, capsys):
    """A checkpoint folder that cannot be created: exit 1, one line, nothing written."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    ckpt = blocker / "ckpt"
    code, out, err = run_cli(["train", "--iters", "60", "--batch-size", "1000", "--quiet",
                              "--evaluate-sample-num", "10", "--checkpoint-dir", ckpt,
                              "--save", tmp_path / "model.npz"], capsys)
    assert code == 1, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"scratchdl: error: cannot write {ckpt / CHECKPOINT}: Not a directory"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("damage", ["truncated", "not-a-checkpoint", "no-recipe"])
def test_resume_refuses_a_damaged_checkpoint(damage, mnist, tmp_path, capsys):
    """`--resume` of a damaged checkpoint: exit 1, one line naming the file."""
    trainer = small_trainer(mnist, 30, callbacks=[Checkpoint(tmp_path, {"model": "two-layer"})])
    trainer.train()
    path = tmp_path / CHECKPOINT
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        header, arrays = header_of(path), arrays_of(path)
        header = {**header, "format": "scratchdl-model"} if damage == "not-a-checkpoint" \
            else {**header, "run": {}}
        np.savez(path, **arrays, **{HEADER: np.array(json.dumps(header))})
    code, out, err = run_cli(["train", "--resume", tmp_path, "--quiet",
                              "--save", tmp_path / "model.npz"], capsys)
    assert code == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert str(path) in err
    assert not (tmp_path / "model.npz").exists()


def test_resume_can_extend_a_finished_run(tmp_path, mnist):
    """`--resume DIR --iters N` trains a finished run further, bit-identical to one long run."""
    from scratchdl.app.cli import main

    ckpt, extended, straight = tmp_path / "ckpt", tmp_path / "extended.npz", tmp_path / "b.npz"
    common = ["--batch-size", "1000", "--evaluate-sample-num", "100", "--quiet"]
    assert main(["train", "--iters", "60", "--checkpoint-dir", str(ckpt), *common]) == 0
    assert main(["train", "--resume", str(ckpt), "--iters", "120", "--save", str(extended),
                 "--quiet"]) == 0
    assert main(["train", "--iters", "120", "--save", str(straight), *common]) == 0
    assert_bit_identical(arrays_of(extended), arrays_of(straight))


def test_resume_refuses_to_change_the_recipe(tmp_path, capsys, mnist):
    from scratchdl.app.cli import main

    ckpt = tmp_path / "ckpt"
    assert main(["train", "--iters", "5", "--batch-size", "1000", "--checkpoint-dir", str(ckpt),
                 "--evaluate-sample-num", "100", "--quiet"]) == 0
    assert main(["train", "--resume", str(ckpt), "--lr", "0.5"]) == 2
    assert "--lr cannot change them" in capsys.readouterr().err
