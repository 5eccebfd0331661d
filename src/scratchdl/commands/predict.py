"""`scratchdl predict MODEL.npz IMAGE`: classify an image file with a saved model."""

from __future__ import annotations

import argparse

import numpy as np

from scratchdl.backend import to_numpy
from scratchdl.commands.common import add_device_arg, flat_input
from scratchdl.functions import softmax
from scratchdl.image import load_digit
from scratchdl.io import load_model

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict the digit in an image file",
        description=__doc__ + " The image may be any size, grayscale or colour, light or dark "
        "background; it is converted to 28x28 light-on-dark like MNIST.",
    )
    p.add_argument("model", metavar="MODEL.npz", help="a model saved by `scratchdl train --save`")
    p.add_argument("image", metavar="IMAGE", help="a PNG, JPEG, ... file")
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model, header = load_model(args.model)
    digit = load_digit(args.image)
    x = digit.reshape(1, 784) if flat_input(model.config) else digit.reshape(1, 1, 28, 28)
    probs = to_numpy(softmax(model.predict(x.astype(model.dtype))))[0]
    fashion = header.get("hyperparameters", {}).get("dataset") == "fashion-mnist"
    names = FASHION_CLASSES if fashion else [str(k) for k in range(10)]
    best = int(np.argmax(probs))
    print(f"predicted: {names[best]} (probability {probs[best]:.4f})")
    for k, p in enumerate(probs):
        print(f"  {names[k]:>12}: {p:.4f}")
    return 0
