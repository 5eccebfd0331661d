"""`scratchdl show FIGURE`: the book's figures, each written as a PNG.

Of the book's functions: functions (section 3.2: step, sigmoid, ReLU, and step
against sigmoid) and gradient (sections 4.3-4.4: tangents, the gradient field, the
path of gradient descent). Of a trained model: filters (its first layer's
weights as an image grid: section 7.6.1's filters, or for a fully connected model
each hidden unit's 784 input weights as a 28x28 image), applied-filters (those
filters applied to an image, filter beside output: section 7.6.1, apply_filter.py)
and mistakes (the misclassified test digits: section 8.1.1, figure 8-2).
"""

from __future__ import annotations

import argparse

import numpy as np

from scratchdl.app.commands.common import (
    add_data_args,
    add_device_arg,
    check_output_path,
    load_test_set,
    positive_int,
)
from scratchdl.io import load_model
from scratchdl.runtime.backend import asarray, to_numpy
from scratchdl.runtime.errors import ModelFileError, UsageError

MAX_SIDE = 256
"""applied-filters: a larger IMAGE is scaled down to fit MAX_SIDE x MAX_SIDE pixels."""

MODEL_HELP = "a model saved by `scratchdl train --save` or `scratchdl import-book`"


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="draw one of the book's figures as a PNG",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    figures = p.add_subparsers(dest="figure", metavar="FIGURE", parser_class=type(p))
    figures.required = True

    def figure(name: str, run, help: str, description: str) -> argparse.ArgumentParser:
        f = figures.add_parser(name, help=help, description=description)
        f.add_argument("--out", metavar="FILE.png", default=None,
                       help=f"where to write the figure (default: {name}.png)")
        add_device_arg(f)
        f.set_defaults(func=run)
        return f

    figure("functions", show_functions, "step, sigmoid and ReLU (section 3.2)",
           "Chapter 3's activation functions over -5 <= x < 5: the step function, the "
           "sigmoid, the two together, and ReLU (the book's figures 3-6 to 3-9).")
    figure("gradient", show_gradient,
           "tangents, gradient field, gradient descent (sections 4.3-4.4)",
           "Chapter 4's figures: the tangent of 0.01x^2 + 0.1x at x = 5 and 10 (numerical_diff); "
           "the field of -grad(x0^2 + x1^2) as arrows (numerical_gradient); the path of "
           "gradient_descent from (-3, 4) with lr 0.1 (the book's figures 4-7, 4-9, 4-10).")
    f = figure("filters", show_filters, "a model's first-layer weights as images",
               "The first layer's weights W1 as an image grid: a convolutional model's filters "
               "(section 7.6.1), or each hidden unit's 784 input weights as 28x28.")
    f.add_argument("model", metavar="MODEL.npz", help=MODEL_HELP)
    f = figure("applied-filters", show_applied_filters,
               "a convolutional model's filters applied to an image (section 7.6.1)",
               "Each first-layer filter of a convolutional model beside its output on an image "
               "(the book's apply_filter.py, bias left out as the book does). The image is an "
               "MNIST test digit (--index), or IMAGE: any image file, read as grayscale, "
               f"scaled down to fit {MAX_SIDE}x{MAX_SIDE}, inverted when it is dark on light "
               "so that ink is high as in MNIST.")
    f.add_argument("model", metavar="MODEL.npz", help=MODEL_HELP)
    f.add_argument("image", metavar="IMAGE", nargs="?", default=None,
                   help="an image file (PNG, JPEG, ...); default: an MNIST test digit")
    f.add_argument("--index", type=int, default=0, metavar="N",
                   help="without IMAGE: which test image (0, a 7)")
    f.add_argument("--max", dest="max_filters", type=positive_int, default=16, metavar="N",
                   help="draw the first N filters (16, as the book)")
    add_data_args(f)
    f = figure("mistakes", show_mistakes, "the misclassified test digits (section 8.1.1)",
               "The test images a model misclassifies, with their true and predicted labels "
               "(the book's figure 8-2, section 8.1.1).")
    f.add_argument("model", metavar="MODEL.npz", help=MODEL_HELP)
    f.add_argument("--max", dest="max_images", type=positive_int, default=40, metavar="N",
                   help="draw at most N of them (40)")
    add_data_args(f)


def output(args: argparse.Namespace) -> str:
    """The PNG to write: --out, else FIGURE.png; checked before any work."""
    out = args.out or f"{args.figure}.png"
    check_output_path(out)
    return out


def show_functions(args: argparse.Namespace) -> int:
    from scratchdl.app.plots import plot_functions

    out = output(args)
    plot_functions(out)
    print(f"wrote {out} (step function, sigmoid, both, ReLU)")
    return 0


def show_gradient(args: argparse.Namespace) -> int:
    from scratchdl.app.plots import plot_gradients

    out = output(args)
    plot_gradients(out)
    print(f"wrote {out} (tangents at x = 5 and 10, the field of -grad f, gradient descent)")
    return 0


def first_layer_images(W: np.ndarray) -> np.ndarray:
    """W1 as images: (FN, C, FH, FW) -> (FN*C, FH, FW); (784, H) -> (H, 28, 28)."""
    if W.ndim == 4:
        return W.reshape(-1, W.shape[2], W.shape[3])
    side = int(round(np.sqrt(W.shape[0])))
    if side * side != W.shape[0]:
        raise ModelFileError(f"W1 with shape {W.shape} does not come from square images")
    return W.T.reshape(-1, side, side)


def show_filters(args: argparse.Namespace) -> int:
    from scratchdl.app.plots import plot_image_grid

    out = output(args)
    model, _ = load_model(args.model)
    images = first_layer_images(to_numpy(model.params["W1"]))
    plot_image_grid(images, out, title=f"first-layer weights W1 {model.params['W1'].shape}")
    print(f"wrote {out} ({len(images)} filters)")
    return 0


def filter_input(args: argparse.Namespace, model, header: dict) -> tuple[np.ndarray, str]:
    """The image (H, W) in [0, 1], ink high, and a word on where it came from."""
    if args.image is None:
        _, x_test, t_test = load_test_set(args, model, header)
        if not 0 <= args.index < len(x_test):
            raise UsageError(f"--index must be between 0 and {len(x_test) - 1}, got {args.index}")
        label = t_test[args.index]
        return x_test[args.index].reshape(28, 28), f"test image {args.index} (a {label})"
    from scratchdl.app.image import fit_within, light_background, load_gray

    gray = load_gray(args.image).astype(np.float32)
    if max(gray.shape) > MAX_SIDE:
        gray = fit_within(gray, MAX_SIDE)
    ink = np.clip(gray, 0, 255) / 255.0
    return (1.0 - ink if light_background(gray) else ink), args.image


def show_applied_filters(args: argparse.Namespace) -> int:
    from scratchdl.app.plots import plot_filter_outputs
    from scratchdl.layers import Convolution

    out = output(args)
    model, header = load_model(args.model)
    W = to_numpy(model.params["W1"]).astype(np.float64)
    if W.ndim != 4:
        raise ModelFileError(f"{args.model} is a fully connected {type(model).__name__}: "
                             "applied-filters needs a convolutional model (simple-conv, deep-conv)")
    if W.shape[1] != 1:
        raise ModelFileError(f"{args.model}: its filters take {W.shape[1]} channels; "
                             "applied-filters applies one-channel filters to grayscale images")
    image, source = filter_input(args, model, header)
    if min(image.shape) < max(W.shape[2:]):
        raise UsageError(f"{source} is {image.shape[1]}x{image.shape[0]} pixels, smaller than "
                         f"the {W.shape[3]}x{W.shape[2]} filters")
    filters = W[: args.max_filters]
    conv = Convolution(asarray(filters), asarray(np.zeros(len(filters))))
    image_nchw = asarray(image.reshape(1, 1, *image.shape), np.float64)
    outputs = to_numpy(conv.forward(image_nchw, train=False))[0]
    plot_filter_outputs(image, filters[:, 0], outputs, out,
                        title=f"first-layer filters of {type(model).__name__} on {source}")
    print(f"wrote {out} ({len(filters)} filters applied to {source})")
    return 0


def show_mistakes(args: argparse.Namespace) -> int:
    from scratchdl.app.plots import plot_image_grid

    out = output(args)
    model, header = load_model(args.model)
    _, x_test, t_test = load_test_set(args, model, header)
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
