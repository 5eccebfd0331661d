"""`scratchdl import-book FILE.pkl --model NAME`: a parameter pickle of the book's
reference code as a scratchdl model file.

The pickle is read by a restricted unpickler that admits NumPy arrays only (a
pickle can run code). Layer sizes are read from the arrays' shapes unless
--hidden gives them; the result is an ordinary model file, so `scratchdl
evaluate`, `predict` and `show` work on it. The book's published files:
ch03/sample_weight.pkl (--model multi-layer, a 784-50-100-10 sigmoid network),
ch07/params.pkl (--model simple-conv), ch08/deep_convnet_params.pkl
(--model deep-conv); `scratchdl data book-weights` fetches them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scratchdl.app.commands.common import check_output_path, describe
from scratchdl.app.recipe import FIELDS
from scratchdl.data.book_weights import sha256_of
from scratchdl.io import assign_book_params, read_book_pickle, save_model
from scratchdl.models import MODELS, Net, build_model
from scratchdl.runtime.errors import ModelFileError, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("import-book", help="convert a parameter pickle of the book's code "
                       "into a model file", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pickle", metavar="FILE.pkl", help="a dict of NumPy arrays pickled by the "
                   "book's code (W1, b1, ...)")
    p.add_argument("--model", required=True, choices=list(MODELS),
                   help="the network the parameters belong to")
    p.add_argument("--hidden", type=FIELDS["hidden"], default=None, metavar="N[,N...]",
                   help="hidden layer sizes (default: read from the arrays' shapes)")
    p.add_argument("--activation", choices=["sigmoid", "relu"], default="sigmoid",
                   help="two-layer, multi-layer: the hidden layers' activation (sigmoid, as in "
                   "the book's chapters 3-4; the networks of chapters 5-6 use relu)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="the model's dtype (float64, the book's)")
    p.add_argument("--out", metavar="MODEL.npz", default=None,
                   help="the model file to write (default: FILE.npz in the current folder)")
    p.set_defaults(func=run)


def shape(params: dict[str, np.ndarray], name: str, ndim: int, path: Path) -> tuple[int, ...]:
    """The shape of params[name], which must have `ndim` axes."""
    if name not in params or params[name].ndim != ndim:
        found = {k: v.shape for k, v in sorted(params.items())}
        raise ModelFileError(f"{path}: expected {name} with {ndim} axes for this model, found "
                             f"{found}; is --model right?")
    return params[name].shape


def book_config(model: str, params: dict[str, np.ndarray], hidden: list[int] | None,
                activation: str, path: Path) -> dict:
    """The model's config, its layer sizes read from the arrays' shapes (or `hidden`)."""
    if model in ("two-layer", "multi-layer"):
        n = max(1, sum(1 for k in params if k.startswith("W")))
        shapes = [shape(params, f"W{i}", 2, path) for i in range(1, n + 1)]
        sizes = hidden or [s[1] for s in shapes[:-1]]
        base = {"input_size": shapes[0][0], "output_size": shapes[-1][1],
                "activation": activation}
        if model == "multi-layer":
            return {"model": model, "hidden_size_list": sizes, **base}
        if len(sizes) != 1:
            raise UsageError(f"two-layer has one hidden layer, got {sizes}; use multi-layer")
        return {"model": model, "hidden_size": sizes[0], **base}
    if model == "simple-conv":
        FN, C, FH, _ = shape(params, "W1", 4, path)
        size = hidden or [shape(params, "W2", 2, path)[1]]
        return {"model": model, "input_dim": [C, 28, 28], "hidden_size": size[0],
                "output_size": shape(params, "W3", 2, path)[1],
                "conv_param": {"filter_num": FN, "filter_size": FH, "pad": 0, "stride": 1}}
    size = hidden or [shape(params, "W7", 2, path)[1]]
    return {"model": model, "hidden_size": size[0],
            "output_size": shape(params, "W8", 2, path)[1]}


def run(args: argparse.Namespace) -> int:
    path = Path(args.pickle)
    out = args.out or f"{path.stem}.npz"
    check_output_path(out)
    hidden = args.hidden
    if hidden is not None and args.model in ("simple-conv", "deep-conv") and len(hidden) != 1:
        hidden_text = ",".join(map(str, hidden))
        raise UsageError(f"{args.model} has one hidden affine layer, got --hidden {hidden_text}")
    params = read_book_pickle(path)
    config = book_config(args.model, params, hidden, args.activation, path)
    model: Net = build_model(config, dtype=np.dtype(args.dtype))
    assign_book_params(model, params, path)
    save_model(model, out, imported_from={"file": path.name, "sha256": sha256_of(path)},
               hyperparameters={"dataset": "mnist"})
    print(f"wrote {out}: {describe(model)} from {path.name}")
    return 0
