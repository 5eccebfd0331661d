"""The divergence guard: a NaN or infinite loss stops training with one clear line.

The message names the iteration, suggests a smaller learning rate, and says where
the last good checkpoint is; that checkpoint is never overwritten by a bad state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import run_cli

from scratchdl.app.cli import as_flag
from scratchdl.io import HEADER, model_arrays
from scratchdl.models import TwoLayerNet
from scratchdl.runtime.callbacks import DivergenceGuard
from scratchdl.runtime.checkpoint import CHECKPOINT, Checkpoint
from scratchdl.runtime.errors import DivergenceError, spelling_arguments
from scratchdl.train import Trainer

ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""One BLAS thread per child: threads contending for a busy machine's cores are slow."""


def test_cli_divergence_keeps_last_good_checkpoint(tmp_path, mnist):
    """Adam with lr 1e10 blows a ReLU net up at iteration 2, after one checkpoint.

    A batch of the whole training set makes every iteration an epoch, so the
    checkpoint of iteration 1 exists when the loss turns NaN.
    """
    ckpt, out = tmp_path / "ckpt", tmp_path / "model.npz"
    result = subprocess.run(
        [sys.executable, "-m", "scratchdl", "train", "--model", "multi-layer",
         "--hidden", "10,10,10", "--batch-size", "60000", "--iters", "5", "--optimizer", "adam",
         "--lr", "1e10", "--evaluate-sample-num", "100", "--checkpoint-dir", str(ckpt),
         "--save", str(out), "--quiet"],
        capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "scratchdl: error: training diverged at iteration 2: the loss became nan; try a "
        f"smaller learning rate (--lr 1e+09); the last good checkpoint is kept in {ckpt}"]
    assert not out.exists()
    assert sorted(p.name for p in ckpt.iterdir()) == [CHECKPOINT]
    with np.load(ckpt / CHECKPOINT, allow_pickle=False) as npz:
        assert json.loads(str(npz[HEADER]))["iteration"] == 1
        assert all(np.isfinite(npz[k]).all() for k in npz.files if k != HEADER)


def small_trainer(mnist, *callbacks, **kwargs) -> Trainer:
    """A fast in-process run on 3,000 images: 30 iterations per epoch, seed 0, guarded."""
    (x_train, t_train), (x_test, t_test) = mnist
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 20, 10, rng=rng, dtype=np.float32)
    return Trainer(net, x_train[:3000], t_train[:3000], x_test[:300], t_test[:300],
                   iters=90, mini_batch_size=100, optimizer_param={"lr": 0.5}, rng=rng,
                   verbose=False, callbacks=[DivergenceGuard(), *callbacks], **kwargs)


@pytest.mark.xp
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_loss_stops_before_the_update(bad, mnist):
    """The step whose loss is NaN/inf does not touch the parameters."""
    trainer = small_trainer(mnist)
    net = trainer.network
    backprop, calls, before = net.gradient, [], {}

    def gradient_going_bad_at_12(x, t):
        grads = backprop(x, t)
        calls.append(1)
        if len(calls) == 12:
            before.update({k: v.copy() for k, v in model_arrays(net).items()})
            net.last_loss = bad
        return grads

    net.gradient = gradient_going_bad_at_12
    with pytest.raises(DivergenceError) as info:
        trainer.train()
    assert str(info.value) == (f"training diverged at iteration 12: the loss became {bad}; "
                               "try a smaller learning rate (lr=0.05)")
    assert info.value.exit_code == 1
    after = model_arrays(net)
    assert all(np.array_equal(after[k], before[k]) for k in before)
    assert trainer.current_iter == 11


@pytest.mark.xp
def test_nonfinite_parameters_are_never_checkpointed(mnist, tmp_path):
    """A finite loss whose update leaves inf/NaN parameters at an epoch's end: the
    guard refuses to checkpoint them, and the previous checkpoint stays."""
    trainer = small_trainer(mnist, Checkpoint(tmp_path))
    net = trainer.network
    backprop, calls = net.gradient, []

    def gradient_exploding_at_60(x, t):
        grads = backprop(x, t)
        calls.append(1)
        if len(calls) == 60:
            grads = {k: g * np.float32(np.inf) for k, g in grads.items()}
        return grads

    net.gradient = gradient_exploding_at_60
    with pytest.raises(DivergenceError) as info:
        trainer.train()
    message = str(info.value)
    assert message.startswith("training diverged at iteration 60: model/W1, model/b1, model/W2, "
                              "model/b2 became nan or inf; try a smaller learning rate")
    assert message.endswith(f"the last good checkpoint is kept in {tmp_path}")
    with np.load(tmp_path / CHECKPOINT, allow_pickle=False) as npz:
        assert json.loads(str(npz[HEADER]))["iteration"] == 30
        assert all(np.isfinite(npz[k]).all() for k in npz.files if k != HEADER)
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT]


SEED = ["train", "--evaluate-sample-num", "1000"]
"""The seed recipe, each epoch's accuracy on 1,000 images (the loss is what counts here)."""


@pytest.mark.parametrize("args, mean", [(["--lr", "100"], "14.29"),
                                        (["--activation", "relu", "--lr", "3"], "13.88")])
def test_a_run_that_blows_up_stops_with_status_1(args, mean, mnist, capsys):
    """The loss jumps from 2.30 to ~14 in a few iterations and stays there: stopped at
    the first full window, one line giving the loss before and after."""
    code, out, err = run_cli([*SEED, *args], capsys)
    assert code == 1
    assert err.strip().splitlines() == [
        f"scratchdl: error: training diverged at iteration 100: the mean loss of the last 100 "
        f"iterations is {mean}, against 2.30 at the start; try a smaller learning rate "
        f"(--lr {float(args[-1]) / 10:g})"]
    assert "final:" not in out


@pytest.mark.parametrize("lr", ["0.1", "1", "3"])
def test_the_seed_recipe_that_learns_is_never_stopped(lr, mnist, capsys):
    code, out, err = run_cli([*SEED, "--lr", lr, "--quiet"], capsys)
    assert code == 0 and err == ""
    assert out.startswith("final: ") and float(out.split("test acc ")[1][:6]) > 0.9


def test_a_run_at_chance_level_ends_with_a_warning(mnist, capsys):
    """ReLU at lr 10: the ReLUs die and the loss sits at 2.35. Not stopped; warned."""
    code, out, err = run_cli([*SEED, "--activation", "relu", "--lr", "10", "--quiet"], capsys)
    assert code == 0 and out.startswith("final: ")
    assert err.strip().splitlines() == [
        "scratchdl: warning: the network did not learn (test acc 0.0892, chance is 0.10); "
        "try a smaller learning rate (--lr 1) or another --weight-init-std"]


@pytest.mark.xp
def test_divergence_later_in_a_run_keeps_the_checkpoint_before_it(mnist, tmp_path):
    """A run that learns for two epochs, then blows up: the guard stops it within the
    window, and the checkpoint on disk is the last one taken before the blow-up."""
    trainer = small_trainer(mnist, Checkpoint(tmp_path))
    net, backprop, calls = trainer.network, trainer.network.gradient, []

    def gradient_blowing_up_at_65(x, t):
        grads = backprop(x, t)
        calls.append(1)
        if len(calls) >= 65:
            net.last_loss = 14.0
        return grads

    net.gradient = gradient_blowing_up_at_65
    trainer.max_iter = 300
    with pytest.raises(DivergenceError) as info:
        trainer.train()
    assert str(info.value).startswith("training diverged at iteration 90: the mean loss of "
                                      "the last 10 iterations is 14.00, against ")
    assert str(info.value).endswith(f"the last good checkpoint is kept in {tmp_path}")
    with np.load(tmp_path / CHECKPOINT, allow_pickle=False) as npz:
        assert json.loads(str(npz[HEADER]))["iteration"] == 60


def test_the_message_suggests_a_rate_when_none_was_given(mnist):
    """No lr in optimizer_param: the optimizer's own default (momentum: 0.01) is the base."""
    (x_train, t_train), (x_test, t_test) = mnist
    net = TwoLayerNet(784, 20, 10, rng=0)
    trainer = Trainer(net, x_train[:300], t_train[:300], x_test[:30], t_test[:30], iters=5,
                      optimizer="momentum", optimizer_param={"momentum": 0.9}, verbose=False,
                      callbacks=[DivergenceGuard()])
    assert trainer.optimizer.lr == 0.01
    net.params["W1"][0, 0] = np.nan
    with pytest.raises(DivergenceError, match=r"^training diverged at iteration 1: the loss "
                       r"became nan; try a smaller learning rate \(lr=0.001\)$") as info:
        trainer.train()
    assert "--" not in str(info.value)  # the library speaks of arguments, not flags
    with spelling_arguments(as_flag):  # the command line's spelling of the same error
        assert str(info.value).endswith("try a smaller learning rate (--lr 0.001)")
