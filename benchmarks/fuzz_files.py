"""A longer fuzzing campaign against the file loaders, one target at a time.

    python benchmarks/fuzz_files.py [SECONDS_PER_TARGET] [--engine atheris|hypothesis]
                                    [--target NAME ...] [--crashes DIR]

Targets: `model-file` (`load_model` on any bytes, seeded with valid model files),
`model-header` (the bytes are the JSON header of an otherwise valid file),
`model-zip` (the bytes describe a zip of arbitrary members), `image` (`load_digit`
on any bytes, seeded with valid PNG, JPEG, GIF, BMP and TIFF files).

The allowed outcomes are success or one of the project's own errors
(`ScratchdlError`); anything else is a bug, counted, and its input saved under
--crashes. With atheris installed (`pip install atheris`; a development tool,
never a dependency of scratchdl) the campaign is coverage-guided; without it,
hypothesis generates random, truncated and mutated inputs. Each target runs in a
child process; the table gives the inputs tried and the outcome counts.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

TARGETS = ["model-file", "model-header", "model-zip", "image"]
MEMBER_NAMES = ["__header__.npy", "W1.npy", "b1.npy", "W2.npy", "b2.npy", "gamma1.npy",
                "running_mean1.npy", "W1"]


def seed_models() -> list[bytes]:
    """Valid model files: a tiny two-layer net and a batch-norm multi-layer net."""
    import numpy as np

    from scratchdl.io import save_model
    from scratchdl.models import MultiLayerNetExtend, TwoLayerNet

    nets = [TwoLayerNet(4, 3, 2, rng=0, dtype=np.float32),
            MultiLayerNetExtend(4, [3], 2, use_batchnorm=True, rng=0)]
    seeds = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, net in enumerate(nets):
            path = Path(tmp) / f"{i}.npz"
            save_model(net, path, seed=0)
            seeds.append(path.read_bytes())
    return seeds


def seed_images() -> list[bytes]:
    """Small valid images in the formats and modes `predict` meets."""
    import numpy as np
    from PIL import Image

    a = np.zeros((10, 12), np.uint8)
    a[2:-2, 5:7] = 255
    seeds = []
    for fmt, mode, options in [
        ("PNG", "L", {}), ("PNG", "RGBA", {}), ("PNG", "P", {"transparency": 0}),
        ("PNG", "I;16", {}), ("JPEG", "RGB", {"quality": 80}),
        ("JPEG", "L", {"progressive": True}), ("GIF", "P", {}), ("BMP", "RGB", {}),
        ("TIFF", "L", {"compression": "tiff_lzw"}),
    ]:
        buf = io.BytesIO()
        Image.fromarray(a).convert(mode).save(buf, format=fmt, **options)
        seeds.append(buf.getvalue())
    return seeds


def model_parts(model: bytes) -> tuple[str, dict]:
    """The header text and arrays of a model file."""
    import numpy as np

    with np.load(io.BytesIO(model), allow_pickle=False) as npz:
        return str(npz["__header__"]), {k: npz[k] for k in npz.files if k != "__header__"}


def zip_from_bytes(data: bytes) -> bytes:
    """Decode `data` as a zip description: member count, then (name, size, content)."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        count, pos = (data[0] % 8 if data else 0), 1
        for _ in range(count):
            if pos + 3 > len(data):
                break
            name = MEMBER_NAMES[data[pos] % len(MEMBER_NAMES)]
            size = int.from_bytes(data[pos + 1 : pos + 3], "little")
            z.writestr(name, data[pos + 3 : pos + 3 + size])
            pos += 3 + size
    return buf.getvalue()


class Harness:
    """Turns bytes into a file for one target, loads it and tallies the outcome."""

    def __init__(self, target: str, workdir: Path, crashes: Path) -> None:
        import numpy as np

        from scratchdl.app.image import load_digit
        from scratchdl.io import load_model
        from scratchdl.runtime.errors import ScratchdlError

        self.target, self.crashes = target, crashes
        self.path = workdir / "input"
        self.own_error = ScratchdlError
        self.load = load_digit if target == "image" else load_model
        self.outcomes: Counter[str] = Counter()
        self.inputs = 0
        self.started = 0.0
        if target == "model-header":
            self.header, self.arrays = model_parts(seed_models()[0])
        self.np = np

    def seeds(self) -> list[bytes]:
        """Valid inputs of this target, to start mutating from."""
        if self.target == "image":
            return seed_images()
        if self.target == "model-header":
            return [self.header.encode()]
        if self.target == "model-zip":
            seeds = []
            for model in seed_models():
                parts = [(MEMBER_NAMES.index(n), c) for n, c in self.members(model)]
                seeds.append(bytes([len(parts)]) + b"".join(
                    bytes([i]) + len(c).to_bytes(2, "little") + c for i, c in parts))
            return seeds
        return seed_models()

    @staticmethod
    def members(model: bytes) -> list[tuple[str, bytes]]:
        """The (name, bytes) members of a model file that MEMBER_NAMES can name."""
        import zipfile

        with zipfile.ZipFile(io.BytesIO(model)) as z:
            return [(n, z.read(n)) for n in z.namelist() if n in MEMBER_NAMES]

    def file_bytes(self, data: bytes) -> bytes:
        """The file this target makes of the fuzzer's bytes."""
        if self.target == "model-header":
            buf = io.BytesIO()
            header = self.np.array(data.decode("utf-8", "replace"))
            self.np.savez(buf, **self.arrays, __header__=header)
            return buf.getvalue()
        if self.target == "model-zip":
            return zip_from_bytes(data)
        return data

    def __call__(self, data: bytes) -> None:
        """One input: allowed outcomes are success and ScratchdlError (one line)."""
        self.inputs += 1
        self.started = self.started or time.monotonic()
        self.path.write_bytes(self.file_bytes(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                self.load(self.path)
            self.outcomes["ok"] += 1
        except self.own_error as e:
            kind = type(e).__name__
            self.outcomes[kind if "\n" not in str(e) else f"BUG multi-line {kind}"] += 1
        except Exception as e:  # noqa: BLE001 - every other exception is the finding
            kind = f"BUG {type(e).__name__}"
            self.outcomes[kind] += 1
            if self.outcomes[kind] <= 3:
                self.crashes.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha1(data).hexdigest()[:12]
                (self.crashes / f"{self.target}-{type(e).__name__}-{digest}").write_bytes(data)
                print(f"{self.target}: {type(e).__name__}: {e}", file=sys.stderr)

    def report(self) -> str:
        """The JSON line the parent reads: inputs, seconds, outcome counts."""
        return json.dumps({"target": self.target, "inputs": self.inputs,
                           "seconds": time.monotonic() - self.started,
                           "outcomes": dict(self.outcomes.most_common())})


def fuzz_atheris(harness: Harness, seconds: float, workdir: Path) -> None:
    """Coverage-guided: libFuzzer mutates the seed corpus; stops itself after `seconds`."""
    import atheris

    corpus = workdir / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(harness.seeds()):
        (corpus / f"seed{i}").write_bytes(seed)
    deadline = time.monotonic() + seconds

    def one_input(data: bytes) -> None:
        harness(data)
        if time.monotonic() > deadline:
            print(harness.report(), flush=True)
            os._exit(0)

    atheris.Setup([sys.argv[0], "-max_len=20000", "-rss_limit_mb=4096", str(corpus)],
                  one_input)
    atheris.Fuzz()


def fuzz_hypothesis(harness: Harness, seconds: float) -> None:
    """Random bytes, truncations and mutations of the seeds, in rounds until `seconds`."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = harness.seeds()

    @st.composite
    def mutated(draw) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, max(len(data) - 1, 0)))
            op = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
            if op == "set" and data:
                data[i] = draw(st.integers(0, 255))
            elif op == "insert":
                data[i:i] = draw(st.binary(min_size=1, max_size=16))
            elif op == "delete":
                del data[i : i + draw(st.integers(1, 16))]
            else:
                del data[i:]
        return bytes(data)

    inputs = st.one_of(st.binary(max_size=4000), mutated())

    @settings(max_examples=500, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def round_(data: bytes) -> None:
        harness(data)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        round_()
    print(harness.report(), flush=True)


def child(target: str, seconds: float, engine: str, crashes: Path) -> None:
    """Fuzz one target for `seconds` and print its JSON report line."""
    if engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=["scratchdl", "PIL", "zipfile"]):
            from PIL import Image

            import scratchdl.app.image
            import scratchdl.io  # noqa: F401 - imported here to be instrumented

            Image.init()
    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(target, Path(tmp), crashes)
        if engine == "atheris":
            fuzz_atheris(harness, seconds, Path(tmp))
        else:
            fuzz_hypothesis(harness, seconds)


def default_engine() -> str:
    """atheris when it is installed, else hypothesis."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "hypothesis"
    return "atheris"


def main() -> int:
    """Run each target in a child process and print the table; exit 1 on any bug."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", nargs="?", type=float, default=60.0,
                        help="seconds per target (60)")
    parser.add_argument("--engine", choices=["atheris", "hypothesis"], default=None,
                        help="atheris when installed, else hypothesis")
    parser.add_argument("--target", action="append", choices=TARGETS, default=None)
    parser.add_argument("--crashes", type=Path,
                        default=Path(tempfile.gettempdir()) / "scratchdl-fuzz-crashes",
                        help="folder for inputs that caused other exceptions")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    engine = args.engine or default_engine()
    if args.child:
        child(args.child, args.seconds, engine, args.crashes)
        return 0
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    print(f"engine: {engine}, {args.seconds:g} s per target")
    print(f"{'target':<14}{'inputs':>10}{'inputs/s':>10}  outcomes")
    bugs = 0
    for target in args.target or TARGETS:
        result = subprocess.run(
            [sys.executable, __file__, str(args.seconds), "--engine", engine, "--child", target,
             "--crashes", str(args.crashes)],
            capture_output=True, text=True, env=env, timeout=args.seconds * 3 + 300)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{target:<14} child failed (exit {result.returncode}): "
                  f"{result.stderr.strip().splitlines()[-1:]}")
            bugs += 1
            continue
        report = json.loads(lines[-1])
        outcomes = ", ".join(f"{k} {v}" for k, v in report["outcomes"].items())
        rate = report["inputs"] / max(report["seconds"], 1e-9)
        print(f"{target:<14}{report['inputs']:>10}{rate:>10.0f}  {outcomes}")
        bugs += sum(v for k, v in report["outcomes"].items() if k.startswith("BUG"))
    print(f"{bugs} inputs with outcomes other than success or ScratchdlError"
          + (f" (saved under {args.crashes})" if bugs else ""))
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
