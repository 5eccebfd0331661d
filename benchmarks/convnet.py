"""Convolutional networks, timed: scratchdl against the book's NumPy code and PyTorch.

One training iteration = forward + backward + Adam update (lr 0.001) on a batch of
100 images (1, 28, 28), for SimpleConvNet (chapter 7) and DeepConvNet (chapter 8):

- scratchdl, float32 (the training default) and float64;
- a plain book-style NumPy implementation written here the way the book writes it
  (im2col/col2im looping over filter positions, pooling by max over im2col rows,
  layer objects, the book's Adam), in float64 like the book and in float32;
- PyTorch on the CPU, float32, the same architectures, when torch is importable.

All run in this one invocation, interleaved round by round so that load from other
processes hits them alike; each time is the median over rounds of the mean seconds
per iteration. Before each round a contender waits SETTLE_SECONDS and takes one
untimed step: the previous contender's BLAS and OpenMP threads keep spinning for a
while after their last task, and a contender timed at once would share the cores
with them (without the pause PyTorch, timed right after the book's multithreaded
BLAS, measured two to three times as slow as it is).

Peak memory is the growth of the peak resident set (Linux VmHWM, reset before the
first iteration) over three iterations, measured in a fresh child process per row
so that earlier rows do not hide it. Inputs are random pixels in
[0, 1): speed does not depend on the digits.

NumPy's BLAS and PyTorch use all CPUs by default. scratchdl runs as `scratchdl
train` does: BLAS on one thread, each convolution's batch split across one
thread per CPU (scratchdl.runtime.threads.parallel_map; SCRATCHDL_NUM_THREADS sets the
count), and Adam as the Trainer builds it (scratchdl.engines.optim.FastAdam). The
"plain API" row is the book's own loop over `gradient` and the book's `Adam.update`
with no thread settings at all, as a notebook would write it.
OPENBLAS_NUM_THREADS=1 in the environment pins all of them to one thread.
The load average is printed before and after: other processes on the machine
slow every row, threaded ones the most.

    python benchmarks/convnet.py [--rounds 5] [--iters 3] [--no-memory]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time

import numpy as np

from scratchdl.runtime.threads import workers

BATCH = 100
SETTLE_SECONDS = 0.5
LR = 0.001


# --- the book's code (common/util.py, common/layers.py, common/optimizer.py) ---------

def book_im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=input_data.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def book_col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


class BookConvolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x, train_flg=True):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + (H + 2 * self.pad - FH) // self.stride
        out_w = 1 + (W + 2 * self.pad - FW) // self.stride
        col = book_im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
        self.x, self.col, self.col_W = x, col, col_W
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return book_col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class BookPooling:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x, train_flg=True):
        N, C, H, W = x.shape
        out_h = int(1 + (H - self.pool_h) / self.stride)
        out_w = int(1 + (W - self.pool_w) / self.stride)
        col = book_im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        self.x = x
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dmax = dmax.reshape(dout.shape + (pool_size,))
        dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
        return book_col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class BookRelu:
    def forward(self, x, train_flg=True):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class BookAffine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x, train_flg=True):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class BookDropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class BookSoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        x = x - np.max(x, axis=1, keepdims=True)
        self.y = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
        batch_size = self.y.shape[0]
        return -np.sum(np.log(self.y[np.arange(batch_size), t] + 1e-7)) / batch_size

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class BookAdam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = {key: np.zeros_like(val) for key, val in params.items()}
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


class BookNet:
    """The book's network pattern: params dict, layer list, backward in reverse."""

    def __init__(self, params, layers, grad_of):
        self.params, self.layers, self.grad_of = params, layers, grad_of
        self.last_layer = BookSoftmaxWithLoss()

    def gradient(self, x, t):
        for layer in self.layers:
            x = layer.forward(x, True)
        self.last_layer.forward(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return {name: getattr(layer, attr) for name, (layer, attr) in self.grad_of.items()}


def book_simple_conv_net(dtype, rng):
    p = {"W1": 0.01 * rng.standard_normal((30, 1, 5, 5)), "b1": np.zeros(30),
         "W2": 0.01 * rng.standard_normal((4320, 100)), "b2": np.zeros(100),
         "W3": 0.01 * rng.standard_normal((100, 10)), "b3": np.zeros(10)}
    p = {k: v.astype(dtype) for k, v in p.items()}
    conv, fc1, fc2 = (BookConvolution(p["W1"], p["b1"]), BookAffine(p["W2"], p["b2"]),
                      BookAffine(p["W3"], p["b3"]))
    layers = [conv, BookRelu(), BookPooling(2, 2, stride=2), fc1, BookRelu(), fc2]
    grad_of = {"W1": (conv, "dW"), "b1": (conv, "db"), "W2": (fc1, "dW"), "b2": (fc1, "db"),
               "W3": (fc2, "dW"), "b3": (fc2, "db")}
    return BookNet(p, layers, grad_of)


def book_deep_conv_net(dtype, rng):
    channels, pads = [1, 16, 16, 32, 32, 64, 64], [1, 1, 1, 2, 1, 1]
    p, layers, grad_of = {}, [], {}
    for i in range(6):
        fan_in = channels[i] * 9
        W = np.sqrt(2.0 / fan_in) * rng.standard_normal((channels[i + 1], channels[i], 3, 3))
        p[f"W{i + 1}"], p[f"b{i + 1}"] = W.astype(dtype), np.zeros(channels[i + 1], dtype)
        conv = BookConvolution(p[f"W{i + 1}"], p[f"b{i + 1}"], 1, pads[i])
        grad_of[f"W{i + 1}"], grad_of[f"b{i + 1}"] = (conv, "dW"), (conv, "db")
        layers += [conv, BookRelu()]
        if i % 2 == 1:
            layers.append(BookPooling(2, 2, stride=2))
    for i, (n_in, n_out) in enumerate([(1024, 50), (50, 10)], start=7):
        W = np.sqrt(2.0 / n_in) * rng.standard_normal((n_in, n_out))
        p[f"W{i}"], p[f"b{i}"] = W.astype(dtype), np.zeros(n_out, dtype)
        fc = BookAffine(p[f"W{i}"], p[f"b{i}"])
        grad_of[f"W{i}"], grad_of[f"b{i}"] = (fc, "dW"), (fc, "db")
        layers += [fc, BookRelu(), BookDropout(0.5)] if i == 7 else [fc, BookDropout(0.5)]
    return BookNet(p, layers, grad_of)


# --- the contenders, each a `step()` closure ----------------------------------------

def batch(dtype):
    rng = np.random.default_rng(0)
    return rng.random((BATCH, 1, 28, 28)).astype(dtype), rng.integers(0, 10, BATCH)


def book_step(model: str, dtype):
    build = book_simple_conv_net if model == "SimpleConvNet" else book_deep_conv_net
    net, optimizer = build(np.dtype(dtype), np.random.default_rng(0)), BookAdam(LR)
    x, t = batch(dtype)

    def step():
        optimizer.update(net.params, net.gradient(x, t))

    return step


def scratchdl_step(model: str, dtype, as_train: bool = True):
    """A training step as `scratchdl train` runs it (the steps under `BlasThreads(1)`, the
    Trainer's Adam), or, `as_train=False`, as a plain loop of the Python API runs it: the
    book's `Adam`, no thread settings."""
    from scratchdl.engines.optim import FAST_OPTIMIZERS
    from scratchdl.models import DeepConvNet, SimpleConvNet
    from scratchdl.optim import OPTIMIZERS, get_optimizer
    from scratchdl.runtime.threads import blas_threads

    cls = SimpleConvNet if model == "SimpleConvNet" else DeepConvNet
    choices = FAST_OPTIMIZERS if as_train else OPTIMIZERS
    net, optimizer = cls(rng=0, dtype=dtype), get_optimizer("adam", choices=choices, lr=LR)
    x, t = batch(dtype)

    def step():
        with blas_threads(1 if as_train else None):
            optimizer.update(net.params, net.gradient(x, t))

    return step


def plain_api_step(model: str, dtype):
    return scratchdl_step(model, dtype, as_train=False)


def torch_model(model: str):
    from torch import nn

    if model == "SimpleConvNet":
        return nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                             nn.Linear(4320, 100), nn.ReLU(), nn.Linear(100, 10))
    layers, channels, pads = [], [1, 16, 16, 32, 32, 64, 64], [1, 1, 1, 2, 1, 1]
    for i in range(6):
        layers += [nn.Conv2d(channels[i], channels[i + 1], 3, padding=pads[i]), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.Flatten(), nn.Linear(1024, 50), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(50, 10), nn.Dropout(0.5)]
    return nn.Sequential(*layers)


def torch_step(model: str, dtype):
    import torch

    torch.manual_seed(0)
    net = torch_model(model)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    x, t = batch(np.float32)
    x, t = torch.from_numpy(x), torch.from_numpy(t)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), t).backward()
        optimizer.step()

    return step


CONTENDERS = {  # name: (make_step, dtype)
    "scratchdl float32": (scratchdl_step, "float32"),
    "scratchdl f32 plain API": (plain_api_step, "float32"),
    "scratchdl float64": (scratchdl_step, "float64"),
    "book-style float64": (book_step, "float64"),
    "book-style float32": (book_step, "float32"),
    "pytorch float32": (torch_step, "float32"),
}
MODELS = ["SimpleConvNet", "DeepConvNet"]


def rss_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, in KiB, from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def peak_memory_mb(name: str, model: str, iters: int) -> float:
    """Peak RSS growth (MiB) over the first `iters` iterations, in this process.

    Measured from after the model, optimizer and batch are built, so it counts the
    working memory of training (activations, columns, gradients, optimizer state).
    The peak (VmHWM) is reset first through /proc/self/clear_refs; ru_maxrss would
    not do, as a spawned child inherits its parent's.
    """
    make, dtype = CONTENDERS[name]
    step = make(model, dtype)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = rss_kib("VmRSS")
    for _ in range(iters):
        step()
    return (rss_kib("VmHWM") - before) / 1024


def peak_memory_in_child(name: str, model: str, iters: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(peak_memory_mb, (name, model, iters))


def settle(step) -> None:
    """Let the previous contender's spinning threads go to sleep, then warm this one up."""
    time.sleep(SETTLE_SECONDS)
    step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--iters", type=int, default=3, help="iterations per round")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory column")
    args = parser.parse_args()

    names = list(CONTENDERS)
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS")
    if blas_threads:
        os.environ.setdefault("SCRATCHDL_NUM_THREADS", blas_threads)
    try:
        import torch

        if blas_threads:
            torch.set_num_threads(int(blas_threads))
        print(f"torch {torch.__version__}, torch.get_num_threads() = {torch.get_num_threads()}")
    except ImportError:
        names.remove("pytorch float32")
        print("torch not importable: no PyTorch row")
    threads = blas_threads or f"default ({os.cpu_count()} CPUs)"
    n = workers()
    print(f"scratchdl: BLAS on 1 thread, batch split over {n} thread{'s' * (n != 1)}")
    print(f"numpy {np.__version__}, BLAS threads: {threads}; batch {BATCH}, Adam lr {LR}; "
          f"median of {args.rounds} rounds x {args.iters} iterations; "
          "memory: peak RSS growth (VmHWM) in a child process")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    seconds = {}
    for model in MODELS:
        steps = {}
        for name in names:
            make, dtype = CONTENDERS[name]
            steps[name] = make(model, dtype)
            steps[name]()  # warm up: first-touch allocations, lazy imports
        per_round = {name: [] for name in names}
        for _ in range(args.rounds):
            for name in names:
                settle(steps[name])
                start = time.perf_counter()
                for _ in range(args.iters):
                    steps[name]()
                per_round[name].append((time.perf_counter() - start) / args.iters)
        for name in names:
            seconds[name, model] = statistics.median(per_round[name])

    memory = {}
    if not args.no_memory:
        for model in MODELS:
            for name in names:
                memory[name, model] = peak_memory_in_child(name, model, 3)

    head = f"{'implementation':<24}" + "".join(f"{m + ' s/iter':>24}" for m in MODELS)
    if memory:
        head += "".join(f"{m + ' peak MiB':>24}" for m in MODELS)
    print(head)
    for name in names:
        row = f"{name:<24}" + "".join(f"{seconds[name, m]:>24.4f}" for m in MODELS)
        if memory:
            row += "".join(f"{memory[name, m]:>24.1f}" for m in MODELS)
        print(row)

    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    ours = "scratchdl float32"
    print("ratios (> 1: scratchdl float32 is faster):")
    for other in [n for n in names if n != ours]:
        ratios = ", ".join(f"{m} {seconds[other, m] / seconds[ours, m]:.2f}x" for m in MODELS)
        print(f"  {other} / {ours}: {ratios}")


if __name__ == "__main__":
    main()
