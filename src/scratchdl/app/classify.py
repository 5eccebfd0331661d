"""Reading one image with a trained model: the conversion and forward pass that
`scratchdl predict` and `scratchdl serve` share, so both give the same numbers."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchdl.app.commands.common import flat_input
from scratchdl.app.image import load_digit
from scratchdl.functions import softmax
from scratchdl.io import load_model, trained_on
from scratchdl.models import Net
from scratchdl.runtime.backend import to_numpy

DIGITS = [str(k) for k in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


@dataclass(frozen=True)
class Reading:
    """What the model read: `input` (28, 28) float32 in [0, 1] exactly as the network
    received it, and `probabilities` (10,), the softmax of its scores."""

    input: np.ndarray
    probabilities: np.ndarray

    @property
    def digit(self) -> int:
        """The most probable class."""
        return int(np.argmax(self.probabilities))


class Classifier:
    """A trained model that reads images: `classify(path or bytes) -> Reading`.

    Safe to call from several threads. The layers keep each forward pass's arrays
    for backward (`Affine.x`, `Relu.mask`, ...), and `Pooling` even writes its
    `beats` through those attributes during the forward pass, so two forward passes
    of one model must not overlap: a lock serialises the forward pass alone (well
    under a millisecond for a fully connected net), while the decoding and
    conversion of images, most of a request's time, run in parallel.
    """

    def __init__(self, model: Net, header: dict) -> None:
        self.model, self.header = model, header
        self.dataset = trained_on(header)
        self.names = FASHION_CLASSES if self.dataset == "fashion-mnist" else DIGITS
        self._forward = threading.Lock()

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        """The classifier of a model file saved by `scratchdl train --save`."""
        return cls(*load_model(path))

    def classify(self, source: str | Path | bytes) -> Reading:
        """Read an image file (its path) or its bytes, as `scratchdl predict` does."""
        digit = load_digit(source)
        x = digit.reshape(1, 784) if flat_input(self.model.config) else digit.reshape(1, 1, 28, 28)
        with self._forward:
            scores = self.model.predict(x.astype(self.model.dtype))
        return Reading(digit, to_numpy(softmax(scores))[0])
