"""Each experiment's quick size still shows the book's lesson (chapter 6).

The quick sizes are what a learner runs first and what the notebooks may use: a
shortened run that shows nothing teaches nothing. Every assertion here is the
book's own reading of its figure.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchdl.app.experiments import EXPERIMENTS
from scratchdl.app.experiments.batchnorm import WITH, WITHOUT


def quick(name: str):
    module = EXPERIMENTS[name]
    return module.run(module.QUICK, seed=0)


def final_loss(run, width: int = 30) -> float:
    return float(np.mean(run.history.train_loss[-width:]))


def test_optimizers_sgd_is_clearly_the_slowest(mnist):
    """Book 6.1.8: SGD learns slowest; the other three much faster, AdaGrad a little ahead."""
    runs = quick("optimizers").runs
    loss = {label: final_loss(r) for label, r in runs.items()}
    others = [loss["Momentum"], loss["AdaGrad"], loss["Adam"]]
    assert loss["SGD"] > 2 * max(others)
    assert runs["SGD"].test_acc < min(runs[k].test_acc for k in ("Momentum", "AdaGrad", "Adam"))
    assert loss["AdaGrad"] == min(loss.values())


def test_weight_init_std_001_does_not_learn_and_he_beats_xavier(mnist):
    """Book 6.2.4: std 0.01 stays at loss 2.30 (chance); He learns fastest, Xavier next."""
    runs = quick("weight-init").runs
    loss = {label: final_loss(r) for label, r in runs.items()}
    assert loss["std=0.01"] == pytest.approx(2.30, abs=0.01)
    assert runs["std=0.01"].test_acc < 0.2
    assert loss["He"] < loss["Xavier"] < loss["std=0.01"] - 0.2
    assert runs["He"].test_acc > 0.75


def test_batchnorm_learns_at_almost_every_scale_plain_only_near_the_right_one(mnist):
    """Book 6.3.2: with batch norm the network learns fast at almost every scale; without
    it, it learns only where the scale suits the network, and not at all elsewhere."""
    runs = quick("batchnorm").runs
    bn = {w: pair[WITH].train_acc for w, pair in runs.items()}
    plain = {w: pair[WITHOUT].train_acc for w, pair in runs.items()}
    assert sum(acc > 0.75 for acc in bn.values()) >= 4
    assert sum(bn[w] > plain[w] + 0.3 for w in runs) >= 4
    assert sum(acc < 0.2 for acc in plain.values()) >= 4
    assert max(plain.values()) > 0.8


def test_overfit_plain_memorises_weight_decay_narrows_the_gap(mnist):
    """Book 6.4: on 300 images the plain network nears 100% train accuracy while test
    accuracy stays far below; weight decay and dropout narrow the gap."""
    runs = quick("overfit").runs
    gap = {label: r.train_acc - r.test_acc for label, r in runs.items()}
    assert runs["plain"].train_acc > 0.98
    assert gap["plain"] > 0.2
    assert gap["weight decay 0.1"] < gap["plain"] - 0.05
    assert gap["dropout 0.2"] < gap["plain"] - 0.05


def test_hyperparams_the_best_trials_have_large_learning_rates(mnist):
    """Book 6.5: the good trials share a learning rate around 1e-3 to 1e-2."""
    trials = quick("hyperparams").trials
    assert trials[0].val_acc > 0.6
    assert all(1e-3 <= t.lr <= 1e-2 for t in trials[:5])
    assert trials[-1].val_acc < 0.3
