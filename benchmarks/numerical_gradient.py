"""The seed's numerical-gradient training step, timed: the book's method vs the engine.

All of it runs in this one invocation, with batches of 100 real MNIST images, in
float64. First, on the seed network (TwoLayerNet 784-50-10, sigmoid,
weight_init_std 0.01, seed 0):

- naive: the book's `numerical_gradient` on every parameter (perturb by +-h,
  evaluate the batch loss, restore), then an SGD step; a few iterations;
- fast: `model.numerical_gradient` (the engine in `scratchdl.engines.numgrad`), then an SGD
  step, for many iterations: a real training sequence, batch drawn without
  replacement each time.

It prints seconds per iteration, the ratio, the projected time of the 10,000
iterations of the seed recipe, and the largest difference between the two
gradients on the naive iteration (whole gradient, same parameters and batch).

Then the price of a numerical step against a backprop step (`model.gradient`) of
the same model on the same batches, each followed by the same SGD update, for
TwoLayerNet 784-50-10 (sigmoid) and MultiLayerNet 784-100-100-10 (ReLU, He
init): each round starts from the same parameters and runs a sequence of
batches; numerical and backprop rounds alternate, and the best round of each
counts (the machine may be shared).

BLAS runs single-threaded unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say
otherwise: for these small products one thread is fastest, and it is the same
setting for every method.

    python benchmarks/numerical_gradient.py [--fast-iters 200] [--naive-iters 1]
        [--ratio-iters 50] [--rounds 5]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from scratchdl.data import load_mnist  # noqa: E402
from scratchdl.gradient import numerical_gradient  # noqa: E402
from scratchdl.models import MultiLayerNet, Net, TwoLayerNet  # noqa: E402

ITERS_NUM = 10_000
LEARNING_RATE = 0.1
BATCH_SIZE = 100


def naive_gradient(net: TwoLayerNet, x: np.ndarray, t: np.ndarray) -> dict:
    """The book's TwoLayerNet.numerical_gradient, verbatim in spirit."""

    def loss_W(W):
        return net.loss(x, t, train=True)

    return {key: numerical_gradient(loss_W, net.params[key]) for key in net.params}


def sgd(net: Net, grads: dict) -> None:
    for key in net.params:
        net.params[key] -= LEARNING_RATE * grads[key]


def duration(seconds: float) -> str:
    """Seconds as s, min or h, whichever reads best."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def step_seconds(net: Net, x_train, t_train, batches: list, rounds: int) -> tuple[float, float]:
    """Best seconds per (numerical step, backprop step), each with its SGD update.

    Every round restores the same starting parameters and runs all `batches`;
    numerical and backprop rounds alternate.
    """
    start = {name: p.copy() for name, p in net.params.items()}
    gradients = [net.numerical_gradient, net.gradient]
    best = [np.inf, np.inf]
    for _ in range(rounds):
        for k, gradient in enumerate(gradients):
            for name, p in start.items():
                net.params[name][...] = p
            begin = time.perf_counter()
            for b in batches:
                sgd(net, gradient(x_train[b], t_train[b]))
            best[k] = min(best[k], (time.perf_counter() - begin) / len(batches))
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast-iters", type=int, default=200)
    parser.add_argument("--naive-iters", type=int, default=1)
    parser.add_argument("--ratio-iters", type=int, default=50,
                        help="batches per round of the step ratio (a tenth of them, at least "
                             "2, for the MultiLayerNet)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if min(args.naive_iters, args.fast_iters, args.ratio_iters, args.rounds) < 1:
        parser.error("--naive-iters, --fast-iters, --ratio-iters and --rounds must be at least 1")

    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    x_train = x_train.astype(np.float64)
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, 50, 10, weight_init_std=0.01, rng=0)
    batches = [rng.choice(len(x_train), BATCH_SIZE, replace=False)
               for _ in range(args.naive_iters + args.fast_iters)]

    naive, diff = 0.0, 0.0
    for b in batches[: args.naive_iters]:
        x, t = x_train[b], t_train[b]
        fast = net.numerical_gradient(x, t)
        start = time.perf_counter()
        grads = naive_gradient(net, x, t)
        sgd(net, grads)
        naive += (time.perf_counter() - start) / args.naive_iters
        diff = max([diff] + [float(np.abs(fast[k] - grads[k]).max()) for k in grads])

    start = time.perf_counter()
    for b in batches[args.naive_iters:]:
        sgd(net, net.numerical_gradient(x_train[b], t_train[b]))
    fast_s = (time.perf_counter() - start) / args.fast_iters

    print(f"numerical gradient (h = 1e-4, every one of {net.n_params():,} parameters), "
          f"TwoLayerNet 784-50-10 sigmoid, batch {BATCH_SIZE} MNIST, float64, "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"{'method':<38}{'iterations':>11}{'s / iteration':>16}{'10,000 iterations':>20}")
    for name, iters, seconds in [("naive (book: perturb, loss, restore)", args.naive_iters, naive),
                                 ("fast (scratchdl.engines.numgrad)", args.fast_iters, fast_s)]:
        print(f"{name:<38}{iters:>11}{seconds:>16.4f}{duration(seconds * ITERS_NUM):>20}")
    print(f"{'ratio naive / fast':<38}{'':>11}{naive / fast_s:>15.0f}x")
    print(f"max |fast - naive| over the whole gradient, naive iterations: {diff:.2e}")
    print(f"final loss after {len(batches)} iterations: {net.last_loss:.4f}")

    models = [("TwoLayerNet 784-50-10 sigmoid", TwoLayerNet(784, 50, 10, weight_init_std=0.01,
                                                              rng=0), args.ratio_iters),
              ("MultiLayerNet 784-100-100-10 relu", MultiLayerNet(784, [100, 100], 10, rng=0),
               max(2, args.ratio_iters // 10))]
    batches = [rng.choice(len(x_train), BATCH_SIZE, replace=False)
               for _ in range(args.ratio_iters)]
    print()
    print(f"numerical step vs backprop step: same model, same batches of {BATCH_SIZE}, float64, "
          f"each with its SGD update, best of {args.rounds} rounds")
    print(f"{'model':<38}{'batches':>8}{'numerical ms':>14}{'backprop ms':>13}{'ratio':>8}")
    for name, model, iters in models:
        numerical, backprop = step_seconds(model, x_train, t_train, batches[:iters], args.rounds)
        print(f"{name:<38}{iters:>8}{numerical * 1e3:>14.3f}{backprop * 1e3:>13.3f}"
              f"{numerical / backprop:>7.1f}x")


if __name__ == "__main__":
    main()
