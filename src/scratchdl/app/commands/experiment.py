"""`scratchdl experiment NAME`: run one of the book's chapter-6 experiments.

Prints the setup, then the experiment's numbers as a table, and writes its figure
to a PNG (NAME.png in the current folder unless --out). --quick runs a smaller
version in a few seconds that still shows the book's result; the full size
reproduces the book's figure (seconds to half a minute on two cores). Progress
goes to stderr, one line per run.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

from scratchdl.app.commands.common import add_data_args, add_device_arg
from scratchdl.app.experiments import EXPERIMENTS
from scratchdl.runtime.callbacks import format_time
from scratchdl.runtime.errors import UsageError


def experiment_list() -> str:
    """The epilog of --help: each experiment, what it shows, and its full size."""
    lines = ["experiments (full size):"]
    for name, module in EXPERIMENTS.items():
        lines += [f"  {name}: {module.SUMMARY}",
                  textwrap.fill(str(module.FULL), width=88, initial_indent=" " * 6,
                                subsequent_indent=" " * 6)]
    return "\n".join(lines)


def add_parser(sub) -> None:
    p = sub.add_parser("experiment", help="run one of the book's experiments, table and PNG",
                       description=__doc__, epilog=experiment_list(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME",
                   help=f"one of: {', '.join(EXPERIMENTS)}")
    p.add_argument("--quick", action="store_true",
                   help="a smaller version that runs in seconds and still shows the book's "
                   "result (same code, fewer samples, epochs or trials)")
    p.add_argument("--out", metavar="FILE.png", default=None,
                   help="where to write the figure (default: NAME.png)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the run's one random generator (0); same seed, same numbers")
    add_data_args(p)
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    module = EXPERIMENTS[args.name]
    out = Path(args.out or f"{args.name}.png")
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must name a .png file, got {str(out)!r}")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name like {args.name}.png")
    size = module.QUICK if args.quick else module.FULL
    print(f"{args.name}{' (quick)' if args.quick else ''}: {size} | seed {args.seed}", flush=True)
    start = time.perf_counter()
    result = module.run(size, seed=args.seed, data_dir=args.data_dir,
                        dataset=args.dataset or "mnist",
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    print(result.table(), flush=True)
    result.plot(out)
    print(f"wrote {out} ({format_time(time.perf_counter() - start)})", flush=True)
    return 0
