"""`scratchdl lab` under load: 20 clients, each starting a run and watching it.

Starts the real command (`scratchdl lab --port 0 --max-runs CLIENTS`) in a child process.
Every run is the seed recipe (TwoLayerNet 784-50-10, sigmoid, SGD lr 0.1, batches of 100
from all 60,000 MNIST images; evaluation on all 70,000 each epoch). First one run trains
alone for 5 s: its iterations per second are the reference. Then each client starts a
run and watches it as a script would, asking for its snapshot (`GET /api/runs/{id}`) ten
times a second; one more client loads the page and `GET /api/runs` meanwhile. Prints the
latency of each (p50, p99, max) while all the runs train, the iterations per second each
run gets, and the server's memory (RSS): idle, with MNIST loaded, while the runs train,
after they are deleted, and after CHURN more runs are started (each trains a few
iterations) and deleted, CLIENTS at a time.

    python benchmarks/lab_load.py [--clients 20] [--seconds 20] [--churn 200]

The clients are Python threads on the same machine, so they share its cores with the
server. Exit status 1 if a request failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import numpy as np

SEED_RECIPE = {"iters": 100_000}
"""The seed recipe (every field at `scratchdl train`'s default), long enough to outlast
the measurement."""


class Client:
    """One HTTP/1.1 connection to the lab (opened again if the server closed it while idle);
    `call` answers (status, JSON, seconds)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, object, float]:
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=None if body is None else json.dumps(body),
                                  headers={"Content-Type": "application/json"})
                response = self.conn.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
                t0 = time.perf_counter()
        data = response.read()
        seconds = time.perf_counter() - t0
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(data) if "json" in kind else data, seconds


def rss_mib(pid: int) -> float:
    """The resident memory of process `pid`, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        kib = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return kib / 1024


def watcher(url: str, seconds: float, go: threading.Barrier, out: dict, errors: list) -> None:
    """Start a run, then ask for its snapshot ten times a second for `seconds`."""
    client = Client(url)
    status, answer, _ = client.call("POST", "/api/runs", SEED_RECIPE)
    if status != 201:
        errors.append((status, answer))
        go.wait()
        return
    run = f"/api/runs/{answer['id']}"
    go.wait()
    latencies, first, last = [], None, None
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        status, snap, took = client.call("GET", run)
        if status != 200:
            errors.append((status, snap))
            break
        latencies.append(took)
        point = (time.perf_counter(), snap["iteration"])
        first = first or point
        last = point
        time.sleep(0.1)
    out["snapshot"] = out.get("snapshot", []) + latencies
    out.setdefault("its", []).append((last[1] - first[1]) / (last[0] - first[0]))
    out.setdefault("ids", []).append(run)


def page_visitor(url: str, seconds: float, go: threading.Barrier, out: dict,
                 errors: list) -> None:
    """Load the page and the run list, one after the other, every 0.1 s."""
    client = Client(url)
    go.wait()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for path, key in (("/", "page"), ("/api/runs", "list")):
            status, answer, took = client.call("GET", path)
            if status != 200:
                errors.append((status, answer))
            out.setdefault(key, []).append(took)
        time.sleep(0.1)


def churn(url: str, total: int, at_once: int, errors: list, pid: int) -> list[float]:
    """Start and delete `total` runs, `at_once` at a time, each after its first iterations;
    the server's RSS after every 100."""
    client = Client(url)
    memory = []
    for done in range(at_once, total + at_once, at_once):
        ids = []
        for _ in range(at_once):
            status, answer, _ = client.call("POST", "/api/runs", SEED_RECIPE)
            if status != 201:
                errors.append((status, answer))
                continue
            ids.append(f"/api/runs/{answer['id']}")
        for run in ids:
            while client.call("GET", run)[1]["iteration"] < 5:
                time.sleep(0.05)
        for run in ids:
            status, answer, _ = client.call("DELETE", run)
            if status != 204:
                errors.append((status, answer))
        while client.call("GET", "/api/runs")[1]["alive"]:
            time.sleep(0.1)
        if done % 100 == 0:
            memory.append(rss_mib(pid))
    return memory


def stats(latencies: list[float]) -> str:
    ms = np.array(latencies) * 1000
    return (f"{len(ms)} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} | "
            f"{ms.max():.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--churn", type=int, default=200)
    args = parser.parse_args()

    proc = subprocess.Popen([sys.executable, "-m", "scratchdl", "lab", "--port", "0",
                             "--max-runs", str(args.clients)], stdout=subprocess.PIPE,
                            text=True)
    errors: list = []
    try:
        url = re.search(r"http://\S+/", proc.stdout.readline()).group(0)
        memory = {"idle": rss_mib(proc.pid)}
        one = Client(url)
        _, answer, _ = one.call("POST", "/api/runs", SEED_RECIPE)
        alone = f"/api/runs/{answer['id']}"
        while (start := one.call("GET", alone)[1]["iteration"]) < 1:
            time.sleep(0.1)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 5:
            time.sleep(0.1)
            done = one.call("GET", alone)[1]["iteration"]
        alone_its = (done - start) / (time.perf_counter() - t0)
        one.call("DELETE", alone)
        memory["MNIST loaded"] = rss_mib(proc.pid)

        out: dict = {}
        go = threading.Barrier(args.clients + 2)
        threads = [threading.Thread(target=watcher, args=(url, args.seconds, go, out, errors))
                   for _ in range(args.clients)]
        threads.append(threading.Thread(target=page_visitor,
                                        args=(url, args.seconds, go, out, errors)))
        for t in threads:
            t.start()
        go.wait()
        time.sleep(args.seconds / 2)
        memory[f"{args.clients} runs training"] = rss_mib(proc.pid)
        for t in threads:
            t.join()
        for run in out.get("ids", []):
            one.call("DELETE", run)
        while one.call("GET", "/api/runs")[1]["alive"]:
            time.sleep(0.1)
        memory[f"{args.clients} runs deleted"] = rss_mib(proc.pid)
        every_100 = churn(url, args.churn, args.clients, errors, proc.pid)
        memory[f"{args.churn} more started and deleted"] = rss_mib(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)

    its = np.array(out.get("its", [0.0]))
    print(f"scratchdl lab under load: {args.clients} runs of the seed recipe training at once, "
          f"each watched by its client; {os.cpu_count()} CPUs; {args.seconds:g} s")
    print("| request, while the runs train | requests | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(f"| GET /api/runs/{{id}} (snapshot) | {stats(out['snapshot'])} |")
    print(f"| GET / (the page) | {stats(out['page'])} |")
    print(f"| GET /api/runs | {stats(out['list'])} |")
    print(f"iterations per second per run: mean {its.mean():.1f}, min {its.min():.1f}, "
          f"max {its.max():.1f} (all {args.clients} together: {its.sum():.0f}; one run "
          f"alone, before: {alone_its:.0f})")
    print("| server memory (RSS) | MiB |")
    print("|---|---|")
    for what, mib in memory.items():
        print(f"| {what} | {mib:.0f} |")
    if every_100:
        print("RSS after every 100 of those runs, MiB: "
              + ", ".join(f"{mib:.0f}" for mib in every_100))
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
