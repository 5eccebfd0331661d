"""`scratchdl predict MODEL.npz IMAGE`: classify an image file with a saved model."""

from __future__ import annotations

import argparse

from scratchdl.app.commands.common import add_device_arg


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
    from scratchdl.app.classify import Classifier  # Pillow: loaded only when an image is read

    classifier = Classifier.load(args.model)
    reading = classifier.classify(args.image)
    names, probs = classifier.names, reading.probabilities
    print(f"predicted: {names[reading.digit]} (probability {probs[reading.digit]:.4f})")
    for k, p in enumerate(probs):
        print(f"  {names[k]:>12}: {p:.4f}")
    return 0
