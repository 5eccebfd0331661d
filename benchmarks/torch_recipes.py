"""The seed recipe and one epoch of SimpleConvNet and DeepConvNet in PyTorch, timed.

The baseline of `benchmarks/gpu_check.sh`: the work `scratchdl train --device gpu`
does for each recipe, done by PyTorch on the same device, on the same MNIST:

- seed: TwoLayerNet 784-50-10 sigmoid, weights 0.01 * N(0, 1), SGD lr 0.1, 10,000
  iterations; simple-conv / deep-conv: the book's networks (`convnet.torch_model`),
  Adam lr 0.001, one epoch of 600 iterations;
- each iteration a batch of 100 drawn without replacement by a NumPy generator on
  the host, its indices moved to the device and the images gathered there, and the
  loss brought back as a Python number (scratchdl's history records every loss);
- accuracy on the full training and test sets after the first iteration and at the
  end of each epoch, 1,000 images per forward pass, as `scratchdl train` evaluates
  on a GPU, inside the timed training; the final evaluation is timed apart.

float32 throughout, with TF32 off (scratchdl's CuPy products are full float32). Each
recipe first runs 5 untimed iterations and one untimed evaluation (cuDNN's and
CUDA's start-up), then is timed to torch.cuda.synchronize(). One line per recipe:

    RECIPE  TRAINING_SECONDS  EVALUATION_SECONDS  TRAIN_ACC  TEST_ACC

    python benchmarks/torch_recipes.py [--device cuda] [--data-dir DIR] [--iters N]
                                       [seed simple-conv deep-conv]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from convnet import torch_model
from torch import nn

from scratchdl.data import load_mnist

RECIPES = {  # name: (iterations, optimizer, learning rate, flat input)
    "seed": (10000, torch.optim.SGD, 0.1, True),
    "simple-conv": (600, torch.optim.Adam, 0.001, False),
    "deep-conv": (600, torch.optim.Adam, 0.001, False),
}
BATCH, EPOCH, EVAL_BATCH = 100, 600, 1000


def two_layer_net() -> nn.Module:
    """The seed network, initialized as the book does."""
    net = nn.Sequential(nn.Linear(784, 50), nn.Sigmoid(), nn.Linear(50, 10))
    for layer in (net[0], net[2]):
        nn.init.normal_(layer.weight, std=0.01)
        nn.init.zeros_(layer.bias)
    return net


def accuracy(net: nn.Module, x: torch.Tensor, t: torch.Tensor) -> float:
    """Fraction of x classified as t, EVAL_BATCH images per forward pass."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            correct += int((net(x[i : i + EVAL_BATCH]).argmax(dim=1) == t[i : i + EVAL_BATCH])
                           .sum())
    net.train()
    return correct / len(x)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(name: str, data, device: torch.device, iters: int | None = None) -> tuple[float, ...]:
    """Train one recipe (`iters` iterations, default the recipe's); (training seconds,
    evaluation seconds, train acc, test acc)."""
    recipe_iters, optimizer_class, lr, flat = RECIPES[name]
    iters = iters or recipe_iters
    torch.manual_seed(0)
    net = (two_layer_net() if name == "seed" else torch_model(
        "SimpleConvNet" if name == "simple-conv" else "DeepConvNet")).to(device)
    optimizer = optimizer_class(net.parameters(), lr=lr)
    (x_train, t_train), (x_test, t_test) = data
    rng = np.random.default_rng(0)
    synchronize(device)
    start = time.perf_counter()
    for i in range(iters):
        batch = torch.from_numpy(rng.choice(len(x_train), BATCH, replace=False)).to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x_train[batch]), t_train[batch])
        loss.backward()
        loss.item()
        optimizer.step()
        if i % EPOCH == 0:
            accuracy(net, x_train, t_train), accuracy(net, x_test, t_test)
    synchronize(device)
    training = time.perf_counter() - start
    start = time.perf_counter()
    train_acc, test_acc = accuracy(net, x_train, t_train), accuracy(net, x_test, t_test)
    return training, time.perf_counter() - start, train_acc, test_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="*", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--iters", type=int, default=None,
                        help="iterations of each recipe (default: the recipe's; for a smoke test)")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    for name in args.recipes:
        flat = RECIPES[name][3]
        sets = load_mnist(flatten=flat, data_dir=args.data_dir)
        data = [(torch.from_numpy(x).to(device), torch.from_numpy(t.astype(np.int64)).to(device))
                for x, t in sets]
        run(name, data, device, iters=5)
        training, evaluation, train_acc, test_acc = run(name, data, device, args.iters)
        print(f"{name}  {training:.2f}  {evaluation:.2f}  {train_acc:.4f}  {test_acc:.4f}",
              flush=True)


if __name__ == "__main__":
    main()
