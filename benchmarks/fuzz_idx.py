"""Fuzz `read_idx` for a while: every input must give an ndarray or a DataError.

Inputs are random bytes, valid IDX files (all types, 1 to 4 dimensions) with
mutated headers, truncations and trailing bytes, raw or gzip-wrapped, and damaged
gzip streams. Prints the number of inputs tried and each outcome; exit status 1
if any input raised anything else or took over a second.

    python benchmarks/fuzz_idx.py --seconds 60
    python benchmarks/fuzz_idx.py --count 100000 --seed 3
"""

from __future__ import annotations

import argparse
import collections
import gzip
import os
import random
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scratchdl.data import read_idx
from scratchdl.data.idx import IDX_TYPES
from scratchdl.runtime.errors import DataError


def valid_idx(rng: random.Random) -> bytes:
    code = rng.choice(list(IDX_TYPES))
    dims = [rng.randint(0, 6) for _ in range(rng.randint(1, 4))]
    body = rng.randbytes(int(np.prod(dims)) * IDX_TYPES[code].itemsize)
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(0, 3)):
        op = rng.randrange(4)
        if op == 0 and data:
            data[rng.randrange(min(len(data), 24))] = rng.randrange(256)
        elif op == 1:
            del data[rng.randint(0, len(data)):]
        elif op == 2:
            data += rng.randbytes(rng.randint(1, 8))
        elif op == 3 and len(data) >= 8:
            data[4:8] = struct.pack(">I", rng.choice([2**32 - 1, 10**9, 65536, 1]))
    return bytes(data)


def make_input(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["random", "idx", "idx.gz", "damaged.gz"])
    if kind == "random":
        return kind, rng.randbytes(rng.randint(0, 64))
    data = mutate(rng, valid_idx(rng))
    if kind == "idx":
        return kind, data
    gz = bytearray(gzip.compress(data, compresslevel=1))
    if kind == "damaged.gz":
        gz[rng.randrange(len(gz))] = rng.randrange(256)
        del gz[rng.randint(len(gz) // 2, len(gz)):]
    return kind, bytes(gz)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--seconds", type=float, default=None, help="run this long (default 10)")
    limit.add_argument("--count", type=int, default=None, help="try this many inputs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None or args.count else 10.0
    rng = random.Random(args.seed)
    outcomes: collections.Counter[str] = collections.Counter()
    failures, slowest, tried = 0, 0.0, 0
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=folder) as d:
        path = Path(d) / "fuzz"
        start = time.perf_counter()
        while (args.count is None or tried < args.count) and (
            seconds is None or time.perf_counter() - start < seconds
        ):
            kind, data = make_input(rng)
            path.write_bytes(data)
            t0 = time.perf_counter()
            try:
                result = read_idx(path)
                outcome = "ndarray" if isinstance(result, np.ndarray) else "OTHER RESULT"
            except DataError:
                outcome = "DataError"
            except Exception as e:  # anything but DataError is a finding
                outcome = f"CRASH {type(e).__name__}"
                print(f"input {tried} ({kind}, {data[:32].hex()}...): {e!r}", file=sys.stderr)
            elapsed = time.perf_counter() - t0
            slowest = max(slowest, elapsed)
            failures += outcome not in ("ndarray", "DataError") or elapsed > 1.0
            outcomes[f"{kind}: {outcome}"] += 1
            tried += 1
    total = time.perf_counter() - start
    print(f"{tried} inputs in {total:.1f} s ({tried / total:.0f}/s), "
          f"slowest {slowest * 1e3:.1f} ms")
    for name, n in sorted(outcomes.items()):
        print(f"  {name:<24} {n}")
    print(f"failures: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
