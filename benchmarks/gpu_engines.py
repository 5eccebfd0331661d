"""The convnets' engines on a device: FastConvolution/FastPooling against the book's classes.

On a CPU the fast engines win by cache-sized chunks of the batch, spread over threads.
On a GPU they take the whole batch as one chunk and start no threads; what is left of
them there is their layout: im2col over whole padded rows as one strided copy instead
of the book's filter_h * filter_w copies and a transposing reshape, products whose
result is already channel-major, and max pooling by running maxima over strided views
instead of im2col rows. Whether that pays on a GPU (fewer kernels and bytes moved) or
not is measured here: one training iteration (forward, backward, Adam lr 0.001) of
SimpleConvNet and DeepConvNet on a batch of 100 random images, float32, with the fast
engines (`fast=True`, what the networks use) and with the book's classes (`fast=False`),
interleaved round by round, the median over rounds of the mean time per iteration.
Every iteration ends with its loss on the host, as in `scratchdl train`.

    python benchmarks/gpu_engines.py [--device gpu|cpu] [--rounds 5] [--iters 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from scratchdl.models import DeepConvNet, SimpleConvNet
from scratchdl.optim import Adam
from scratchdl.runtime.backend import asarray, use_device


def stepper(cls, fast: bool):
    """One training iteration of a fresh `cls` network (seed 0), as a function."""
    net, optimizer = cls(rng=0, dtype=np.float32, fast=fast), Adam(lr=0.001)
    rng = np.random.default_rng(0)
    x = asarray(rng.random((100, 1, 28, 28), dtype=np.float32))
    t = asarray(rng.integers(0, 10, 100))

    def step() -> None:
        optimizer.update(net.params, net.gradient(x, t))

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "gpu"], default="gpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    use_device(args.device)
    rows = []
    for cls in (SimpleConvNet, DeepConvNet):
        steps = {"fast engines": stepper(cls, True), "book's classes": stepper(cls, False)}
        times: dict[str, list[float]] = {name: [] for name in steps}
        for step in steps.values():
            step()  # untimed: allocations, and on a GPU the kernels' compilation
        for _ in range(args.rounds):
            for name, step in steps.items():
                start = time.perf_counter()
                for _ in range(args.iters):
                    step()
                times[name].append((time.perf_counter() - start) / args.iters)
        fast, book = (statistics.median(times[name]) for name in steps)
        rows.append((cls.__name__, fast, book))
    print(f"one training iteration, batch 100, float32, on the {args.device} "
          f"(median of {args.rounds} rounds of {args.iters})")
    print(f"{'network':<14} {'fast engines':>13} {'book classes':>13} {'book / fast':>12}")
    for name, fast, book in rows:
        print(f"{name:<14} {fast * 1e3:10.2f} ms {book * 1e3:10.2f} ms {book / fast:11.2f}x")


if __name__ == "__main__":
    main()
