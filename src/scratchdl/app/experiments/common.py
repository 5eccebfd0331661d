"""What the experiments share: the data, a quiet training run, identical streams, tables.

Every experiment trains with `scratchdl.train.Trainer` (through `fit`), so the
training loop exists once. Comparisons are controlled: the networks compared
start from the same random draws and see the same mini-batches (`same_streams`),
so the only difference between two curves is the thing the experiment varies.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from scratchdl.models import Net
from scratchdl.runtime.callbacks import DivergenceGuard
from scratchdl.runtime.errors import DivergenceError
from scratchdl.train import History, Trainer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Log = Callable[[str], None]
"""Where an experiment reports its progress, one line per finished run."""


@dataclass(frozen=True)
class CurveSize:
    """The size of a loss-curve comparison on the book's 5-layer ReLU network."""

    iters: int = 2000
    train_size: int | None = None
    test_size: int | None = None
    batch_size: int = 128
    hidden: tuple[int, ...] = (100, 100, 100, 100)

    @property
    def net(self) -> str:
        """The network's layer sizes as the book writes them, e.g. '784-100-100-10'."""
        return layer_sizes(self.hidden)

    @property
    def data(self) -> str:
        """Which training images the runs use."""
        return f"first {self.train_size} train images" if self.train_size else "60,000 images"


QUICK_CURVES = {"iters": 300, "train_size": 10000, "test_size": 2000}
"""A curve comparison in a few seconds that still shows the book's result
(tests/test_experiment_lessons.py)."""


def layer_sizes(hidden: Sequence[int]) -> str:
    """An MNIST network's layer sizes as the book writes them, e.g. '784-100-100-10'."""
    return "-".join(map(str, [784, *hidden, 10]))


def quiet(_: str) -> None:
    """A `Log` that discards everything."""


@dataclass
class Data:
    """MNIST as the experiments use it: flattened, normalized, labels as indices."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray


def load_data(train_size: int | None = None, test_size: int | None = None,
              data_dir: str | os.PathLike | None = None, dataset: str = "mnist") -> Data:
    """The first `train_size` training and `test_size` test images (all when None).

    The book's experiments take the first N images (`x_train[:1000]`), not a sample.
    """
    from scratchdl.data import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist(dataset=dataset, data_dir=data_dir)
    return Data(x_train[:train_size], t_train[:train_size], x_test[:test_size],
                t_test[:test_size])


def same_streams(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """n generators that produce the same numbers: one child of `rng`, copied n times.

    Give one to each network compared, and they get the same initial draws; give
    one to each trainer, and they get the same mini-batches.
    """
    child = rng.spawn(1)[0]
    return [copy.deepcopy(child) for _ in range(n)]


@dataclass
class Run:
    """One finished training run: its history and final accuracy on the full sets.

    diverged_at: the iteration where `DivergenceGuard` stopped training, else None;
    the accuracies are then NaN.
    """

    history: History
    train_acc: float
    test_acc: float
    seconds: float
    diverged_at: int | None = None


def fit(network: Net, data: Data, rng: np.random.Generator, **trainer_args) -> Run:
    """Train `network` on `data` with `Trainer` (quiet), `rng` drawing the batches.

    trainer_args: `epochs` or `iters`, `mini_batch_size`, `optimizer`,
    `optimizer_param`, ... as `Trainer` takes them. A diverging run is not an
    error here: it is one of the outcomes an experiment can show.
    """
    trainer = Trainer(network, data.x_train, data.t_train, data.x_test, data.t_test,
                      rng=rng, verbose=False, callbacks=[DivergenceGuard()], **trainer_args)
    start = time.perf_counter()
    try:
        train_acc, test_acc = trainer.train()
    except DivergenceError:
        return Run(trainer.history, math.nan, math.nan, time.perf_counter() - start,
                   diverged_at=trainer.current_iter + 1)
    return Run(trainer.history, train_acc, test_acc, time.perf_counter() - start)


def window_mean(values: Sequence[float], end: int, width: int) -> float:
    """Mean of values[end - width : end]: a checkpoint's loss, read through the noise.

    NaN when the run stopped before `end` (it diverged).
    """
    if end > len(values):
        return math.nan
    return float(np.mean(values[max(end - width, 0) : end]))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned.

    Cells are printed with `str`, floats with 4 decimals; NaN shows as '-'.
    """
    def cell(v: object) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.4f}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in [list(headers), *text]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in text)])


Build = Callable[[np.random.Generator], Net]
"""Makes a network, drawing its initial weights (and dropout masks) from the generator."""


def compare(settings: dict[str, tuple[Build, dict]], data: Data, rng: np.random.Generator,
            log: Log = quiet, **trainer_args) -> dict[str, Run]:
    """Train one network per setting, from the same draws and on the same mini-batches.

    settings: label -> (build, its own trainer arguments, e.g. the optimizer);
    trainer_args: the arguments they share. Returns label -> Run, in order.
    """
    inits = same_streams(rng, len(settings))
    batches = same_streams(rng, len(settings))
    runs = {}
    for (label, (build, own_args)), init, batch in zip(settings.items(), inits, batches,
                                                          strict=True):
        run = fit(build(init), data, batch, **trainer_args, **own_args)
        status = (f"diverged at iteration {run.diverged_at}" if run.diverged_at else
                  f"train acc {run.train_acc:.4f}, test acc {run.test_acc:.4f}")
        log(f"  {label}: {status} ({run.seconds:.1f} s)")
        runs[label] = run
    return runs


@dataclass
class LossCurves:
    """The result of a loss comparison: one run per setting, drawn as smoothed curves."""

    runs: dict[str, Run]
    title: str
    ylim: tuple[float, float]

    def table(self) -> str:
        """Loss at four checkpoints (mean of the iterations before), then final accuracy."""
        iters = max(len(r.history.train_loss) for r in self.runs.values())
        width = max(iters // 20, 1)
        checkpoints = sorted({max(iters * k // 4, 1) for k in range(1, 5)})
        headers = ["setting", *(f"loss@{c}" for c in checkpoints), "train acc", "test acc",
                   "time"]
        rows = [[label, *(window_mean(r.history.train_loss, c, width) for c in checkpoints),
                 r.train_acc, r.test_acc, f"{r.seconds:.1f} s"] for label, r in self.runs.items()]
        return (format_table(headers, rows) +
                f"\nloss@N: mean training loss of the {width} iterations up to N; "
                "accuracy on the full train and test sets at the end")

    def plot(self, path: str | os.PathLike | None = None) -> Figure:
        """The figure (returned; written as a PNG to `path` when given)."""
        from scratchdl.app.plots import plot_loss_curves

        return plot_loss_curves({label: r.history.train_loss for label, r in self.runs.items()},
                                path, title=self.title, ylim=self.ylim)


def compare_curves(size: CurveSize, settings: dict[str, tuple[dict, dict]], what: str,
                   ylim: tuple[float, float], *, seed: int, data_dir: str | os.PathLike | None,
                   dataset: str, log: Log) -> LossCurves:
    """Train the book's ReLU MultiLayerNet once per setting, from the same draws and on the
    same mini-batches, and keep the losses as curves.

    settings: label -> (its network's arguments, e.g. weight_init_std; its trainer's
    arguments, e.g. the optimizer).
    """
    from scratchdl.models import MultiLayerNet

    rng = np.random.default_rng(seed)
    data = load_data(size.train_size, size.test_size, data_dir, dataset)

    def builder(net_args: dict) -> Build:
        def build(init: np.random.Generator) -> Net:
            return MultiLayerNet(data.x_train.shape[1], list(size.hidden), 10, rng=init,
                                 dtype=np.float32, **net_args)
        return build

    runs = compare({label: (builder(net_args), trainer_args)
                    for label, (net_args, trainer_args) in settings.items()},
                   data, rng, log, iters=size.iters, mini_batch_size=size.batch_size,
                   eval_every=size.iters, evaluate_sample_num_per_epoch=100)
    return LossCurves(runs, title=f"{what} on {dataset} (smoothed training loss)", ylim=ylim)
