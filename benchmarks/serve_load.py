"""`scratchdl serve` under load: many clients at once, each sending real MNIST digits.

Starts the real command (`scratchdl serve MODEL --port 0`) in a child process, or
uses a running server given with --url. Each client keeps one HTTP/1.1 connection
and sends its requests one after another, all clients at once: real MNIST test
digits, scaled to 280x280 and drawn dark on white as the page's canvas sends them.
Prints requests per second, p50 and p99 latency, the error count (which must be
0) and how many digits were read as their labels; then checks that the server
still answers, and stops it with Ctrl-C. The baseline, in the same invocation, is
the same readings in-process on one thread (`Classifier.classify`, no HTTP).
The clients are Python threads on the same machine, so they share its cores with
the server.

    python benchmarks/serve_load.py [MODEL.npz] [--clients 50] [--requests 20] [--url URL]

Without MODEL it serves the book's SimpleConvNet weights from $SCRATCHDL_DATA.
Exit status 1 if any request failed or the server stopped answering.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from scratchdl.app.classify import Classifier
from scratchdl.app.commands.common import describe
from scratchdl.data import load_mnist


def canvas_png(digit: np.ndarray) -> bytes:
    """A 28x28 uint8 digit as the page sends it: 280x280 RGBA PNG, dark ink on white."""
    big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.convert("RGBA").save(buf, format="PNG")
    return buf.getvalue()


def book_model(folder: Path) -> Path:
    """The book's SimpleConvNet weights as a model file in `folder`."""
    from scratchdl.io import load_book_params, save_model
    from scratchdl.models import SimpleConvNet

    data = Path(os.environ.get("SCRATCHDL_DATA", Path(__file__).parents[2] / "shared" / "data"))
    weights = data / "book-weights" / "ch07_simple_convnet_params.pkl"
    net = load_book_params(SimpleConvNet(), weights)
    path = folder / "simple-conv.npz"
    save_model(net, path, metrics={"test_acc": 0.9890})
    return path


def client(url: str, bodies: list[tuple[int, bytes]], start: threading.Barrier,
           results: list) -> None:
    """Send `bodies` one after another on one connection; record (latency, ok, right)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    start.wait()
    for label, body in bodies:
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/api/predict", body=body, headers={"Content-Type": "image/png"})
            response = conn.getresponse()
            answer = json.loads(response.read())
            ok = response.status == 200
            results.append((time.perf_counter() - t0, ok, ok and answer["digit"] == label))
        except (OSError, http.client.HTTPException, ValueError):
            results.append((time.perf_counter() - t0, False, False))
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    conn.close()


def load(url: str, work: list[list[tuple[int, bytes]]]) -> tuple[list, float]:
    """Run one client thread per list in `work`, all at once: (results, seconds)."""
    results: list = []
    start = threading.Barrier(len(work) + 1)
    threads = [threading.Thread(target=client, args=(url, bodies, start, results))
               for bodies in work]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def still_answers(url: str, label: int, body: bytes) -> bool:
    """GET /api/model and one reading, on a fresh connection, both right."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", "/api/model")
        response = conn.getresponse()
        if response.status != 200 or "description" not in json.loads(response.read()):
            return False
        conn.request("POST", "/api/predict", body=body)
        response = conn.getresponse()
        return response.status == 200 and json.loads(response.read())["digit"] == label
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()


def row(what: str, latencies: list[float], errors: int, right: int, seconds: float) -> str:
    ms = np.array(latencies) * 1000
    n = len(latencies)
    return (f"| {what} | {n} | {errors} | {right / n:.1%} | {n / seconds:,.1f} | "
            f"{np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="model file (default: the book's SimpleConvNet)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--url", help="a running server to load instead of starting one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else book_model(Path(tmp))
        classifier = Classifier.load(model)
        _, (x_test, t_test) = load_mnist(normalize=False, flatten=False)
        n = args.clients * args.requests
        digits = [(int(t_test[i]), canvas_png(x_test[i, 0])) for i in range(min(n, 1000))]
        work = [[digits[(c * args.requests + r) % len(digits)] for r in range(args.requests)]
                for c in range(args.clients)]

        t0 = time.perf_counter()
        alone = []
        for label, body in (pair for bodies in work for pair in bodies):
            t1 = time.perf_counter()
            right = classifier.classify(body).digit == label
            alone.append((time.perf_counter() - t1, True, right))
        alone_s = time.perf_counter() - t0

        proc = None
        url = args.url
        if url is None:
            proc = subprocess.Popen([sys.executable, "-m", "scratchdl", "serve", str(model),
                                     "--port", "0"], stdout=subprocess.PIPE, text=True)
            url = re.search(r"http://\S+/", proc.stdout.readline()).group(0)
        try:
            results, served_s = load(url, work)
            answering = still_answers(url, *digits[0])
        finally:
            status = None
            if proc is not None:
                proc.send_signal(signal.SIGINT)
                proc.communicate(timeout=60)
                status = proc.returncode

    errors = sum(not ok for _, ok, _ in results)
    print(f"scratchdl serve under load: {describe(classifier.model)}, {args.clients} clients x "
          f"{args.requests} requests, real MNIST test digits as 280x280 canvas PNGs")
    print("| what | requests | errors | read as label | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    print(row("in-process, one thread, no HTTP (baseline)", [a[0] for a in alone], 0,
              sum(a[2] for a in alone), alone_s))
    print(row(f"HTTP, {args.clients} concurrent clients", [r[0] for r in results], errors,
              sum(r[2] for r in results), served_s))
    print(f"throughput, HTTP / in-process: {alone_s / served_s:.2f}x")
    print(f"server answering afterwards: {'yes' if answering else 'NO'}"
          + ("" if status is None else f"; exit status after Ctrl-C: {status}"))
    return 0 if errors == 0 and answering and status in (None, 0) else 1


if __name__ == "__main__":
    sys.exit(main())
