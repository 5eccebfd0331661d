"""`scratchdl experiment NAME --quick`: every experiment prints its table and writes a PNG.

The quick sizes run the same code as the full ones on fewer samples, in seconds.
What the full sizes show (the book's results) is checked by running them, and
recorded in the experiments' docstrings; here: that each runs, is reproducible,
and that the controlled comparisons really share their draws.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from test_plots import assert_png

from scratchdl.app import cli
from scratchdl.app.experiments import EXPERIMENTS
from scratchdl.app.experiments.common import Data, LossCurves, fit, format_table, same_streams
from scratchdl.models import MultiLayerNet

HEADERS = {
    "optimizer-paths": ["optimizer", "lr", "end x", "end y", "f(x, y)"],
    "optimizers": ["setting", "loss@", "train acc", "test acc"],
    "weight-init": ["setting", "loss@", "train acc", "test acc"],
    "activation-histogram": ["setting", "layer", "mean", "std", "<0.01", ">0.99"],
    "batchnorm": ["weight scale", "train BN", "train plain"],
    "overfit": ["regime", "train acc", "test acc", "gap"],
    "hyperparams": ["trial", "val acc", "lr", "weight decay"],
}
ROWS = {
    "optimizer-paths": ["SGD", "Momentum", "AdaGrad", "Adam"],
    "optimizers": ["SGD", "Momentum", "AdaGrad", "Adam"],
    "weight-init": ["std=0.01", "Xavier", "He"],
    "activation-histogram": ["sigmoid, std 1", "sigmoid, Xavier", "ReLU, He"],
    "batchnorm": ["0.0001"],
    "overfit": ["plain", "weight decay 0.1", "dropout 0.2"],
    "hyperparams": ["Best-1"],
}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_quick_experiment_prints_table_and_writes_png(name, mnist, tmp_path, capsys):
    out = tmp_path / f"{name}.png"
    assert cli.main(["experiment", name, "--quick", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    for word in HEADERS[name] + ROWS[name]:
        assert word in stdout
    assert stdout.startswith(f"{name} (quick): ")
    assert stdout.rstrip().splitlines()[-1].startswith(f"wrote {out}")
    assert_png(out)


def test_default_output_is_name_png(mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["experiment", "activation-histogram", "--quick"]) == 0
    assert_png(tmp_path / "activation-histogram.png")


def small(module):
    """The module's quick size cut to the sizes before the lessons (40 iterations on
    2,000 images): enough to show which numbers repeat, in a fifth of the time."""
    return dataclasses.replace(module.QUICK, iters=40, train_size=2000, test_size=500)


def test_same_seed_same_numbers(mnist, tmp_path, monkeypatch, capsys):
    weight_init = EXPERIMENTS["weight-init"]
    monkeypatch.setattr(weight_init, "QUICK", small(weight_init))
    tables = []
    for seed in (3, 3, 4):
        cli.main(["experiment", "weight-init", "--quick", "--seed", str(seed),
                  "--out", str(tmp_path / "w.png")])
        lines = capsys.readouterr().out.splitlines()
        tables.append([line.rsplit("  ", 1)[0] for line in lines[1:-2]])
    assert tables[0] == tables[1]
    assert tables[0] != tables[2]


def test_comparisons_share_draws_and_batches(mnist):
    """std 0.01, Xavier and He differ only in scale: the same draws, the same batches."""
    module = EXPERIMENTS["optimizers"]
    result = module.run(small(module), seed=7)
    sgd = result.runs["SGD"].history.train_loss
    weight_init = EXPERIMENTS["weight-init"]
    he = weight_init.run(small(weight_init), seed=7).runs["He"].history.train_loss
    assert sgd == he


def test_same_streams_are_identical_and_fresh():
    rng = np.random.default_rng(0)
    a, b = same_streams(rng, 2)
    assert np.array_equal(a.random(5), b.random(5))
    c, _ = same_streams(rng, 2)
    assert not np.array_equal(np.random.default_rng(0).spawn(1)[0].random(5), c.random(5))


def test_divergence_is_an_outcome_not_an_error(mnist, tmp_path):
    (x, t), (x_test, t_test) = mnist
    data = Data(x[:200], t[:200], x_test[:50], t_test[:50])
    runs = {}
    for label, lr in [("fine", 0.01), ("diverged", 1e30)]:
        net = MultiLayerNet(784, [20], 10, rng=0, dtype=np.float32)
        runs[label] = fit(net, data, np.random.default_rng(0), iters=40, mini_batch_size=20,
                          optimizer="sgd", optimizer_param={"lr": lr})
    assert runs["fine"].diverged_at is None
    bad = runs["diverged"]
    assert bad.diverged_at is not None and bad.diverged_at <= 40
    assert math.isnan(bad.train_acc) and len(bad.history.train_loss) == bad.diverged_at - 1
    result = LossCurves(runs, title="t", ylim=(0, 3))
    assert result.table().splitlines()[3].split()[-4:-2] == ["-", "-"]
    result.plot(tmp_path / "d.png")
    assert_png(tmp_path / "d.png")


def test_format_table():
    text = format_table(["name", "acc"], [["plain", 0.5], ["x", float("nan")]])
    assert text.splitlines() == ["name      acc", "-----  ------", "plain  0.5000",
                                 "x           -"]


@pytest.mark.parametrize("argv, message", [
    (["experiment", "nope"], "invalid choice: 'nope'"),
    (["experiment", "overfit", "--out", "figure.txt"], "--out must name a .png file"),
    (["experiment", "overfit", "--seed", "x"], "invalid int value"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        status = cli.main(argv)
        raise SystemExit(status)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_help_lists_every_experiment_and_its_size(capsys):
    with pytest.raises(SystemExit):
        cli.main(["experiment", "--help"])
    out = capsys.readouterr().out
    for name, module in EXPERIMENTS.items():
        assert name in out and module.SUMMARY in out
    assert "100 trials" in out
