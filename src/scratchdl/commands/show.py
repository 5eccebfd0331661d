"""`scratchdl show filters|mistakes MODEL.npz`: the book's figures of a trained model.

filters: the first layer's weights as an image grid (chapter 7's figure of the
convolution filters before and after training; for a fully connected model, each
hidden unit's 784 input weights as a 28x28 image). mistakes: the misclassified
test images with their true and predicted labels (chapter 8's figure).
"""

from __future__ import annotations

import argparse

import numpy as np

from scratchdl.backend import to_numpy
from scratchdl.commands.common import (
    add_data_args,
    add_device_arg,
    flat_input,
    positive_int,
)
from scratchdl.errors import ModelFileError
from scratchdl.io import load_model


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="draw a trained model's filters or its mistakes",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=["filters", "mistakes"], help="which figure to draw")
    p.add_argument("model", metavar="MODEL.npz", help="a model saved by `scratchdl train --save`")
    p.add_argument("--out", metavar="FILE.png", default=None,
                   help="where to write the figure (default: FIGURE.png)")
    p.add_argument("--max", dest="max_images", type=positive_int, default=40, metavar="N",
                   help="mistakes: draw at most N of them (40)")
    add_data_args(p)
    add_device_arg(p)
    p.set_defaults(func=run)


def first_layer_images(W: np.ndarray) -> np.ndarray:
    """W1 as images: (FN, C, FH, FW) -> (FN*C, FH, FW); (784, H) -> (H, 28, 28)."""
    if W.ndim == 4:
        return W.reshape(-1, W.shape[2], W.shape[3])
    side = int(round(np.sqrt(W.shape[0])))
    if side * side != W.shape[0]:
        raise ModelFileError(f"W1 with shape {W.shape} does not come from square images")
    return W.T.reshape(-1, side, side)


def run(args: argparse.Namespace) -> int:
    from scratchdl.plots import plot_image_grid

    model, header = load_model(args.model)
    out = args.out or f"{args.figure}.png"
    if args.figure == "filters":
        images = first_layer_images(to_numpy(model.params["W1"]))
        plot_image_grid(images, out, title=f"first-layer weights W1 {model.params['W1'].shape}")
        print(f"wrote {out} ({len(images)} filters)")
        return 0
    from scratchdl.data import load_mnist

    dataset = args.dataset or header.get("hyperparameters", {}).get("dataset", "mnist")
    _, (x_test, t_test) = load_mnist(flatten=flat_input(model.config), dataset=dataset,
                                     data_dir=args.data_dir)
    predicted = to_numpy(model.predict_labels(x_test))
    wrong = np.flatnonzero(predicted != t_test)
    shown = wrong[: args.max_images]
    images = x_test[shown].reshape(len(shown), 28, 28)
    titles = [f"{t_test[i]} → {predicted[i]}" for i in shown]
    plot_image_grid(images, out, titles=titles,
                    title=f"{len(wrong)} of {len(x_test)} test images misclassified "
                    f"(true → predicted)")
    print(f"{len(wrong)} of {len(x_test)} test images misclassified "
          f"(test acc {1 - len(wrong) / len(x_test):.4f}); wrote {out} ({len(shown)} shown)")
    return 0
