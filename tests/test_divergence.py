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

from scratchdl.errors import DivergenceError
from scratchdl.io import HEADER, model_arrays
from scratchdl.models import TwoLayerNet
from scratchdl.train import CHECKPOINT, Trainer

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
        "scratchdl: error: training diverged: the loss became nan at iteration 2; try a "
        f"smaller learning rate (--lr 1e+09); the last good checkpoint is kept in {ckpt}"]
    assert not out.exists()
    assert sorted(p.name for p in ckpt.iterdir()) == [CHECKPOINT]
    with np.load(ckpt / CHECKPOINT, allow_pickle=False) as npz:
        assert json.loads(str(npz[HEADER]))["iteration"] == 1
        assert all(np.isfinite(npz[k]).all() for k in npz.files if k != HEADER)


def small_trainer(mnist, **kwargs) -> Trainer:
    """A fast in-process run on 3,000 images: 30 iterations per epoch, seed 0."""
    (x_train, t_train), (x_test, t_test) = mnist
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 20, 10, rng=rng, dtype=np.float32)
    return Trainer(net, x_train[:3000], t_train[:3000], x_test[:300], t_test[:300],
                   iters=90, mini_batch_size=100, optimizer_param={"lr": 0.5}, rng=rng,
                   verbose=False, progress=False, **kwargs)


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
    assert str(info.value) == (f"training diverged: the loss became {bad} at iteration 12; "
                               "try a smaller learning rate (--lr 0.05)")
    assert info.value.exit_code == 1
    after = model_arrays(net)
    assert all(np.array_equal(after[k], before[k]) for k in before)
    assert trainer.current_iter == 11


def test_nonfinite_parameters_are_never_checkpointed(mnist, tmp_path):
    """A finite loss whose update leaves inf/NaN parameters at an epoch's end: the
    guard refuses to checkpoint them, and the previous checkpoint stays."""
    trainer = small_trainer(mnist, checkpoint_dir=tmp_path)
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
    assert message.startswith("training diverged: model/W1, model/b1, model/W2, model/b2 "
                              "became nan or inf at iteration 60; try a smaller learning rate")
    assert message.endswith(f"the last good checkpoint is kept in {tmp_path}")
    with np.load(tmp_path / CHECKPOINT, allow_pickle=False) as npz:
        assert json.loads(str(npz[HEADER]))["iteration"] == 30
        assert all(np.isfinite(npz[k]).all() for k in npz.files if k != HEADER)
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT]
