"""Data-parallel training over MPI, timed against one process, with the Allreduce's cost.

One training step = draw the batch, forward + backward on this process's rows, the
one Allreduce of the flat gradient buffer, Adam update (lr 0.001), on MNIST, float32,
global batch 100, for DeepConvNet and SimpleConvNet, with the callbacks `scratchdl
train` runs around each step (the Ctrl-C vote, per-rank dropout):

- one process as `scratchdl train` runs it: all CPUs (each convolution's batch split
  over one thread per CPU, BLAS on one thread), in this process;
- `mpiexec -n 2`, one thread per rank (OPENBLAS_NUM_THREADS=1, SCRATCHDL_NUM_THREADS=1),
  started from here; also at smaller global batches (fewer rows per rank), for the
  projection below.

Plus, on 2 ranks, one Allreduce (`MPICommunicator.sum`, as training calls it) of each
model's gradient buffer and of a 10 M-parameter float32 buffer: median of repeats.

Projection to P machines like this one (2 cores, 2 ranks each), communication over a
network: a ring Allreduce across machines sends 2 (P - 1) messages of S / P bytes
each way, costing 2 (P - 1) (ALPHA + S / (P B)) for a gradient of S bytes, bandwidth B
and latency ALPHA per message; inside each machine ranks combine over shared memory
(the measured 2-rank Allreduce). Compute is the measured 2-rank step at the rows each
rank then holds: global batch 100 (the book's) gives 100 / 2P rows a rank; keeping 50
rows a rank makes the global batch 100 P.

    python benchmarks/distributed.py [--steps 30] [--bandwidth-gbit 10] [--latency-us 25]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

from scratchdl.app.commands.train import DEFAULTS, callbacks_for, make_model
from scratchdl.data import load_mnist
from scratchdl.train import Trainer

MODELS = ("deep-conv", "simple-conv")
BATCH = 100
SMALL_BATCHES = (24, 12, 6)
"""Global batches on 2 ranks for the projection: 12, 6 and 3 rows a rank."""
MACHINES = (4, 8, 16)
WARMUP = 3
BIG = 10_000_000


def trainer_for(model: str, comm, batch: int = BATCH) -> Trainer:
    """The trainer `scratchdl train --model MODEL` builds (float32, Adam, seed 0)."""
    recipe = {"model": model, **DEFAULTS[model], "batch_size": batch, "dtype": "float32",
              "seed": 0, "iters": 10**6, "gradient": "backprop"}
    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
    rng = np.random.default_rng(0)
    net = make_model(recipe, 784, 10, rng)
    return Trainer(net, x_train, t_train, x_test[:100], t_test[:100], iters=recipe["iters"],
                   mini_batch_size=batch, optimizer="adam", optimizer_param={"lr": 0.001},
                   rng=rng, verbose=False, comm=comm,
                   callbacks=callbacks_for(recipe, None, True, comm))


def step_ms(trainer: Trainer, steps: int) -> float:
    """Mean milliseconds per step of the book's loop (Trainer.train without evaluations)."""
    trainer.call("on_train_begin")
    try:
        for i in range(WARMUP + steps):
            if i == WARMUP:
                trainer.comm.sum(np.zeros(1))  # start together
                start = time.perf_counter()
            trainer.call("on_step_begin", i)
            grads, loss = trainer.train_step()
            trainer.call("on_gradient", i, loss)
            trainer.optimizer.update(trainer.network.params, grads)
            trainer.history.train_loss.append(loss)
            trainer.call("on_step_end", i)
        return (time.perf_counter() - start) / steps * 1e3
    finally:
        trainer.call("on_train_end", None)


def allreduce_ms(comm, size: int, repeats: int) -> float:
    """Median milliseconds of one `comm.sum` of a float32 buffer of `size` elements."""
    buffer = np.ones(size, np.float32)
    times = []
    for _ in range(repeats):
        comm.barrier()
        start = time.perf_counter()
        comm.sum(buffer)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def worker(steps: int) -> None:
    """Under mpiexec: every figure of the 2-rank rows; rank 0 prints them as JSON."""
    from scratchdl.runtime.distributed import communicator

    comm = communicator("mpi")
    out: dict = {"size": comm.size, "steps": {}, "allreduce": {}}
    for model in MODELS:
        trainer = trainer_for(model, comm)
        n = trainer.network.n_params() + 1  # the gradients and the loss
        out["steps"][f"{model}/{BATCH}"] = step_ms(trainer, steps)
        out["allreduce"][model] = (n, allreduce_ms(comm, n, 50))
    for batch in SMALL_BATCHES:
        out["steps"][f"deep-conv/{batch}"] = step_ms(trainer_for("deep-conv", comm, batch), steps)
    out["allreduce"]["10M"] = (BIG, allreduce_ms(comm, BIG, 10))
    if comm.rank == 0:
        print(json.dumps(out), flush=True)


def ring_ms(nbytes: float, machines: int, gbit: float, latency_us: float) -> float:
    """A ring Allreduce of `nbytes` across `machines` over the network (the model above)."""
    hops = 2 * (machines - 1)
    return hops * (latency_us * 1e-3 + nbytes / machines / (gbit * 1e9 / 8) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per row (30)")
    parser.add_argument("--bandwidth-gbit", type=float, default=10.0,
                        help="network bandwidth of the projection, Gbit/s (10)")
    parser.add_argument("--latency-us", type=float, default=25.0,
                        help="network latency per message of the projection, µs (25)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps)
        return
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("benchmarks/distributed.py: no mpiexec; pip install -e '.[mpi]'")
    from scratchdl.runtime.threads import workers
    from scratchdl.train import SingleProcess

    one = {m: step_ms(trainer_for(m, SingleProcess()), args.steps) for m in MODELS}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "SCRATCHDL_NUM_THREADS": "1"}
    run = subprocess.run([mpiexec, "-n", "2", sys.executable, __file__, "--worker",
                          "--steps", str(args.steps)], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"mpiexec failed ({run.returncode}): {run.stderr.strip()}")
    two = json.loads(run.stdout.strip().splitlines()[-1])

    print(f"training step, batch {BATCH}, Adam, float32, mean of {args.steps} steps "
          f"({os.cpu_count()} CPUs)")
    print(f"{'model':<12} {f'1 process ({workers()} threads)':>22} "
          f"{'mpiexec -n 2 (1 thread each)':>30} {'ratio':>7}")
    for m in MODELS:
        t1, t2 = one[m], two["steps"][f"{m}/{BATCH}"]
        print(f"{m:<12} {t1:>19.1f} ms {t2:>27.1f} ms {t1 / t2:>6.2f}x")
    print("\none Allreduce on 2 ranks (MPICommunicator.sum, float32, median)")
    print(f"{'buffer':<22} {'elements':>11} {'MB':>7} {'time':>10} {'GB/s':>7}")
    for name, (n, ms) in two["allreduce"].items():
        label = f"{name} gradients" if name in MODELS else f"{name} parameters"
        print(f"{label:<22} {n:>11,} {n * 4 / 1e6:>7.2f} {ms:>7.3f} ms {n * 4 / ms / 1e6:>7.2f}")

    nbytes = two["allreduce"]["deep-conv"][0] * 4
    print(f"\nDeepConvNet on P machines like this one (2 ranks each), projected: ring "
          f"Allreduce at {args.bandwidth_gbit:g} Gbit/s, {args.latency_us:g} µs a message")
    print(f"{'':>19} global batch {BATCH}{'':>36}| 50 rows a rank, batch 100 P")
    print(f"{'machines':>8} {'rows/rank':>9} {'2-rank step':>12} {'network':>9} {'step':>9} "
          f"{'vs 1 proc':>9} | {'step':>9} {'images/s':>9}")
    steps = {b // 2: two["steps"][f"deep-conv/{b}"] for b in (BATCH, *SMALL_BATCHES)}
    for p in (1, *MACHINES):
        rows = BATCH // (2 * p)
        network = ring_ms(nbytes, p, args.bandwidth_gbit, args.latency_us) if p > 1 else 0.0
        step, weak = steps[rows] + network, steps[BATCH // 2] + network
        print(f"{p:>8} {rows:>9} {steps[rows]:>9.1f} ms {network:>6.2f} ms {step:>6.1f} ms "
              f"{one['deep-conv'] / step:>8.2f}x | {weak:>6.1f} ms {2 * p * 50 / weak * 1e3:>9.0f}")


if __name__ == "__main__":
    main()
