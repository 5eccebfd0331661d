"""The seed recipe, timed: scratchdl against a plain book-style float64 NumPy loop.

Both run the same loop in this one invocation: TwoLayerNet 784-50-10 (sigmoid by
default), weight_init_std 0.01, batch 100 drawn without replacement, 10,000
iterations of SGD with lr 0.1, train and test accuracy on the full sets every
600 iterations. The baseline is written the way the book writes chapter 5
(layer objects in an OrderedDict, float64, a loss evaluation after each update)
and uses NumPy's default BLAS threads. scratchdl runs as `scratchdl train` does:
float32, steps on one BLAS thread, and each evaluation on a snapshot of the
network on a second thread while the steps go on (the same numbers, in order).

With --whole-process each contender is timed as a whole process, start to exit,
as a user waits for it: `scratchdl train` itself, and this script running the
book-style loop alone (`--run book`: Python's start, NumPy's import, loading
MNIST, training, exit), interleaved over --rounds, median.

    python benchmarks/seed_recipe.py [--iters 10000] [--activation sigmoid|relu]
                                     [--whole-process [--rounds 3]]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np

from scratchdl.data import load_mnist
from scratchdl.models import TwoLayerNet
from scratchdl.runtime.callbacks import BackgroundEvaluation, BlasThreads
from scratchdl.train import Trainer


class BookSigmoid:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class BookRelu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class BookAffine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return np.dot(dout, self.W.T)


class BookSoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        x = x - x.max(axis=1, keepdims=True)
        self.y = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
        n = self.y.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class BookTwoLayerNet:
    """Chapter 5's TwoLayerNet, float64, with a choice of hidden activation."""

    def __init__(self, rng, activation):
        self.params = {
            "W1": 0.01 * rng.standard_normal((784, 50)), "b1": np.zeros(50),
            "W2": 0.01 * rng.standard_normal((50, 10)), "b2": np.zeros(10),
        }
        self.layers = OrderedDict()
        self.layers["Affine1"] = BookAffine(self.params["W1"], self.params["b1"])
        self.layers["Act1"] = BookSigmoid() if activation == "sigmoid" else BookRelu()
        self.layers["Affine2"] = BookAffine(self.params["W2"], self.params["b2"])
        self.last_layer = BookSoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        return np.sum(np.argmax(self.predict(x), axis=1) == t) / float(x.shape[0])

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward()
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
                "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db}


def book_loop(data, iters: int, activation: str, seed: int) -> tuple[float, float]:
    """The book's train_neuralnet.py loop, float64. Returns the final (train, test) accuracy."""
    (x_train, t_train), (x_test, t_test) = data
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    rng = np.random.default_rng(seed)
    network = BookTwoLayerNet(rng, activation)
    train_size, batch_size, learning_rate = x_train.shape[0], 100, 0.1
    iter_per_epoch = max(train_size / batch_size, 1)
    train_loss_list, train_acc_list, test_acc_list = [], [], []
    for i in range(iters):
        batch_mask = rng.choice(train_size, batch_size, replace=False)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        grad = network.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]
        train_loss_list.append(network.loss(x_batch, t_batch))
        if i % iter_per_epoch == 0:
            train_acc_list.append(network.accuracy(x_train, t_train))
            test_acc_list.append(network.accuracy(x_test, t_test))
    return network.accuracy(x_train, t_train), network.accuracy(x_test, t_test)


def scratchdl_loop(data, iters: int, activation: str, seed: int) -> tuple[float, float]:
    """The same recipe through scratchdl's Trainer, float32, as `scratchdl train` runs it."""
    (x_train, t_train), (x_test, t_test) = data
    rng = np.random.default_rng(seed)
    network = TwoLayerNet(784, 50, 10, weight_init_std=0.01, activation=activation,
                          rng=rng, dtype=np.float32)
    trainer = Trainer(network, x_train, t_train, x_test, t_test, iters=iters,
                      mini_batch_size=100, optimizer="sgd", optimizer_param={"lr": 0.1},
                      rng=rng, verbose=False,
                      callbacks=[BlasThreads(1), BackgroundEvaluation()])
    return trainer.train()


LOOPS = {"book": ("book-style NumPy float64", book_loop),
         "scratchdl": ("scratchdl float32", scratchdl_loop)}


def process_command(name: str, args) -> list[str]:
    """The command line of one contender as a whole process."""
    if name == "scratchdl":
        return ["scratchdl", "train", "--quiet", "--iters", str(args.iters), "--activation",
                args.activation, "--seed", str(args.seed)]
    return [sys.executable, __file__, "--run", "book", "--iters", str(args.iters),
            "--activation", args.activation, "--seed", str(args.seed)]


def whole_processes(args) -> list[tuple[str, float, str]]:
    """(name, median wall seconds, last line printed) per contender, rounds interleaved."""
    seconds: dict[str, list[float]] = {name: [] for name in LOOPS}
    last: dict[str, str] = {}
    for _ in range(args.rounds):
        for name in LOOPS:
            start = time.perf_counter()
            done = subprocess.run(process_command(name, args), capture_output=True, text=True)
            seconds[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"{LOOPS[name][0]} failed: {done.stderr.strip()}")
            last[name] = done.stdout.strip().splitlines()[-1]
    return [(LOOPS[n][0], statistics.median(seconds[n]), last[n]) for n in LOOPS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10000)
    parser.add_argument("--activation", choices=["sigmoid", "relu"], default="sigmoid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--whole-process", action="store_true",
                        help="time each contender as a whole process, start to exit")
    parser.add_argument("--rounds", type=int, default=3, help="whole-process rounds (median)")
    parser.add_argument("--run", choices=list(LOOPS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    recipe = (f"seed recipe: TwoLayerNet 784-50-10 {args.activation}, batch 100, {args.iters} "
              f"iterations, SGD lr 0.1, per-epoch evaluation on the full sets")
    if args.run:
        train_acc, test_acc = LOOPS[args.run][1](load_mnist(), args.iters, args.activation,
                                                 args.seed)
        print(f"final: train acc {train_acc:.4f}, test acc {test_acc:.4f}")
        return
    if args.whole_process:
        rows = whole_processes(args)
        print(f"{recipe}; whole processes, start to exit, median of {args.rounds} rounds")
        print(f"{'process':<26} {'time (s)':>9}  last line")
        for name, seconds, line in rows:
            print(f"{name:<26} {seconds:9.2f}  {line}")
        print(f"speed-up: {rows[0][1] / rows[1][1]:.2f}x")
        return
    data = load_mnist()
    rows = []
    for name, loop in LOOPS.values():
        start = time.perf_counter()
        train_acc, test_acc = loop(data, args.iters, args.activation, args.seed)
        rows.append((name, time.perf_counter() - start, train_acc, test_acc))
    print(recipe)
    print(f"{'implementation':<26} {'time (s)':>9} {'train acc':>10} {'test acc':>9}")
    for name, seconds, train_acc, test_acc in rows:
        print(f"{name:<26} {seconds:9.2f} {train_acc:10.4f} {test_acc:9.4f}")
    print(f"speed-up: {rows[0][1] / rows[1][1]:.2f}x")


if __name__ == "__main__":
    main()
