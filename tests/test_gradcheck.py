"""`scratchdl gradcheck`: backprop agrees with numerical gradients, per parameter.

The book's `gradient_check.py` on real MNIST (`x_train[:3]`), in float64, for the
two-layer and multi-layer nets with every option, and the convolutional nets in
their small configuration. A failed check exits 1, bad arguments exit 2.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from scratchdl.app import cli
from scratchdl.gradient import gradient_check
from scratchdl.layers import Dropout
from scratchdl.models import MODELS, MultiLayerNetExtend


def gradcheck(capsys, *args: str) -> tuple[int, str, str]:
    status = cli.main(["gradcheck", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def table(out: str) -> dict[str, float]:
    """param -> max |diff| from the printed table."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) == 5 and re.fullmatch(r"[a-zA-Z]+\d+", cells[0]):
            rows[cells[0]] = float(cells[3])
    return rows


@pytest.mark.parametrize("args, params", [
    ([], ["W1", "b1", "W2", "b2"]),
    (["--activation", "relu", "--hidden", "20"], ["W1", "b1", "W2", "b2"]),
    (["--model", "multi-layer"], ["W1", "b1", "W2", "b2", "W3", "b3"]),
    (["--model", "multi-layer", "--weight-decay", "0.1"], ["W1", "W3"]),
    (["--model", "multi-layer", "--dropout", "0.5", "--hidden", "30,30"], ["W1", "b3"]),
    (["--model", "multi-layer", "--batchnorm"], ["gamma1", "beta2", "W3"]),
    (["--model", "multi-layer", "--batchnorm", "--dropout", "0.3", "--weight-decay", "0.05",
      "--activation", "sigmoid", "--batch-size", "5", "--seed", "2"], ["gamma2", "W3"]),
])
def test_passes(capsys, mnist, args, params):
    status, out, err = gradcheck(capsys, *args)
    assert status == 0, err
    rows = table(out)
    assert set(params) <= set(rows)
    assert max(rows.values()) <= 1e-6
    assert out.rstrip().splitlines()[-1].startswith("gradient check passed")


@pytest.mark.parametrize("model", [m for m in ("simple-conv", "deep-conv") if m in MODELS])
def test_conv_models_pass(capsys, mnist, model):
    status, out, err = gradcheck(capsys, "--model", model)
    assert status == 0, err
    assert "W1" in table(out)


def test_absurd_tolerance_fails_with_one_line(capsys, mnist):
    status, out, err = gradcheck(capsys, "--tolerance", "1e-30")
    assert status == 1
    assert "W1" in table(out)
    assert len(err.strip().splitlines()) == 1
    assert "gradient check failed" in err and "1e-30" in err


@pytest.mark.xp
def test_dropout_mask_shared_and_flag_restored(mnist):
    """With different masks the two gradients would disagree by far more than 1e-6."""
    (x, t), _ = mnist
    model = MultiLayerNetExtend(784, [40, 40], 10, use_dropout=True, dropout_ration=0.5,
                                rng=0, dtype=np.float64)
    report = gradient_check(model, x[:4].astype(np.float64), t[:4])
    assert max(largest for _, largest, _ in report.values()) < 1e-6
    assert all(not layer.hold_mask for layer in model.layers if isinstance(layer, Dropout))


@pytest.mark.parametrize("args, message", [
    (["--tolerance", "-1"], "--tolerance"),
    (["--tolerance", "x"], "--tolerance"),
    (["--model", "nope"], "invalid choice"),
    (["--batch-size", "0"], "--batch-size"),
    (["--dropout", "1.5", "--model", "multi-layer"], "--dropout"),
    (["--batchnorm"], "need --model multi-layer"),
    (["--model", "multi-layer", "--hidden", "10,x"], "--hidden"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        raise SystemExit(cli.main(["gradcheck", *args]))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
