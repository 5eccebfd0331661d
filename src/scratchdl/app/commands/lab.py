"""`scratchdl lab`: a web page where you train the book's networks and watch them learn,
live: the loss, the accuracies, the activations, the gradients, the first layer's weights
or the decision boundary, several runs side by side."""

from __future__ import annotations

import argparse

from scratchdl.app.commands.common import add_data_dir_arg, positive_int
from scratchdl.app.commands.serve import add_address_args, listen, run_app, url
from scratchdl.runtime.errors import UsageError, as_argument, spelling_arguments
from scratchdl.runtime.threads import blas_threads, workers

GET_THE_EXTRA = "lab needs Starlette and uvicorn: ${extra:web}"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "lab", help="a web page to train networks and watch them learn, live",
        description=__doc__ + " Data: MNIST, Fashion-MNIST, and the toy sets spiral, circles "
        "and xor. A run nobody watches (no open page, no request about it for --idle-seconds) "
        "stops on its own. Serves until Ctrl-C. Needs the web extra: pip install -e \".[web]\" "
        "in the checkout.",
    )
    add_address_args(p)
    add_data_dir_arg(p)
    g = p.add_argument_group("limits")
    g.add_argument("--max-runs", type=positive_int, default=workers(), metavar="N",
                   help="runs training (or paused) at once; one more is refused "
                   "(default: the CPU count, %(default)s here)")
    g.add_argument("--max-iters", type=positive_int, default=100_000, metavar="N",
                   help="iterations of one run (default %(default)s)")
    g.add_argument("--max-hidden", type=positive_int, default=2_000, metavar="N",
                   help="hidden units of one network, all layers together (default %(default)s)")
    g.add_argument("--max-train-size", type=positive_int, default=60_000, metavar="N",
                   help="training images of one run (default %(default)s, all of MNIST)")
    g.add_argument("--max-numerical-params", type=positive_int, default=50_000, metavar="N",
                   help="parameters of a network trained with numerical gradients (default "
                   "%(default)s; the seed recipe's TwoLayerNet has 39,760)")
    g.add_argument("--idle-seconds", type=positive_int, default=5, metavar="S",
                   help="a run nobody watches for S seconds stops and is forgotten (default "
                   "%(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401  (is the web extra there? run_app serves with it)

        from scratchdl.app.lab.config import Limits
        from scratchdl.app.lab.datasets import DataSets
        from scratchdl.app.lab.memory import keep_large_arrays_mapped
        from scratchdl.app.lab.server import create_app
    except ImportError:
        raise UsageError(GET_THE_EXTRA) from None

    limits = Limits(max_runs=args.max_runs, max_iters=args.max_iters,
                    max_hidden=args.max_hidden, max_train_size=args.max_train_size,
                    max_numerical_params=args.max_numerical_params)
    app = create_app(limits, DataSets(args.data_dir), idle_seconds=args.idle_seconds)
    sock = listen(args.host, args.port)
    print(f"lab at {url(sock)} (at most {limits.max_runs} runs at once; Ctrl-C to stop)",
          flush=True)
    keep_large_arrays_mapped()
    # the API speaks of JSON fields (lr=0.01), not of flags; each run uses one core
    with spelling_arguments(as_argument), blas_threads(1):
        run_app(app, sock, "lab")
    return 0
