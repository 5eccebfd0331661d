"""`scratchdl evaluate MODEL.npz`: test accuracy of a saved model.

--dtype float16 is the book's half_float_network.py (chapter 8.3.4): the weights
and the test images are rounded to float16 and the network then computes in
float64 on those rounded values (NumPy has no fast float16 arithmetic; the
book's code does the same). The float64 accuracy is printed beside it, to show
what 16-bit storage costs.
"""

from __future__ import annotations

import argparse

import numpy as np

from scratchdl.app.commands.common import add_data_args, add_device_arg, load_test_set
from scratchdl.io import load_model


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="print the test accuracy of a saved model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL.npz",
                   help="a model saved by `scratchdl train --save` or `scratchdl import-book`")
    p.add_argument("--dtype", choices=["float64", "float32", "float16"], default=None,
                   help="compute in float64 or float32 (default: the model's dtype); float16: "
                   "round the weights and images to float16, compute in float64, and print "
                   "the float64 accuracy beside it")
    add_data_args(p)
    add_device_arg(p)
    p.set_defaults(func=run)


def round_params_to_float16(model) -> None:
    """Each parameter rounded to float16 and stored back in the model's dtype (the book's
    `param[...] = param.astype(np.float16)`)."""
    for name, p in model.params.items():
        model.params[name] = p.astype(np.float16).astype(model.dtype)


def run(args: argparse.Namespace) -> int:
    half = args.dtype == "float16"
    dtype = "float64" if half else args.dtype
    model, header = load_model(args.model, **({"dtype": dtype} if dtype else {}))
    dataset, x_test, t_test = load_test_set(args, model, header)
    acc = model.accuracy(x_test, t_test)
    print(f"test acc {acc:.4f} ({x_test.shape[0]} {dataset} test images"
          f"{', ' + dtype if dtype else ''})", flush=True)
    if half:
        round_params_to_float16(model)
        acc16 = model.accuracy(x_test.astype(np.float16), t_test)
        print(f"test acc {acc16:.4f} (float16: weights and images rounded to float16, "
              f"arithmetic in float64; {100 * (acc16 - acc):+.2f} points)")
    return 0
