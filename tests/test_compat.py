"""Files written by scratchdl 0.1.0, before the Trainer's callbacks and the split of the
book's layers from the fast engines, still load and give the same results.

tests/data/ holds what 0.1.0 (commit 976b12b) wrote: a model file (TwoLayerNet
784-5-10 ReLU, 600 iterations, test acc 0.8438), a checkpoint (MultiLayerNetExtend
784-6-6-10 with batch norm and dropout, Adam, iteration 600 of 600), and the model
that 0.1.0 made by resuming that checkpoint to 650 iterations.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from helpers import arrays_of, run_cli

DATA = Path(__file__).parent / "data"


def test_a_model_file_from_0_1_0_evaluates_as_it_did(mnist, capsys):
    code, out, err = run_cli(["evaluate", DATA / "model-0.1.0.npz"], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("test acc 0.8438 (10000 mnist test images)")


def test_a_checkpoint_from_0_1_0_resumes_to_the_same_bits(mnist, tmp_path, capsys):
    ckpt = shutil.copytree(DATA / "ckpt-0.1.0", tmp_path / "ckpt")
    code, out, err = run_cli(["train", "--resume", ckpt, "--iters", "650", "--quiet",
                              "--save", tmp_path / "resumed.npz"], capsys)
    assert (code, err) == (0, ""), err
    ours, theirs = arrays_of(tmp_path / "resumed.npz"), arrays_of(DATA / "resumed-by-0.1.0.npz")
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name].dtype == theirs[name].dtype
        assert np.array_equal(ours[name], theirs[name]), name
