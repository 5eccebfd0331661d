"""Perceptrons (chapter 2): logic gates as weights, a bias and a threshold at 0.

A perceptron fires (returns 1) when w1*x1 + w2*x2 + b > 0. AND, NAND and OR are
one perceptron each, with the book's weights and biases; XOR is not linearly
separable, so it takes two layers: AND(NAND(x1, x2), OR(x1, x2)).
"""

from __future__ import annotations

import numpy as np

GATES: dict[str, tuple[tuple[float, float], float]] = {
    "AND": ((0.5, 0.5), -0.7),
    "NAND": ((-0.5, -0.5), 0.7),
    "OR": ((0.5, 0.5), -0.2),
}
"""Gate name -> (weights w, bias b), as in the book (section 2.3.3)."""


def perceptron(x1, x2, w: tuple[float, float], b: float) -> int:
    """1 if w1*x1 + w2*x2 + b > 0, else 0 (the book's weighted sum plus bias)."""
    x = np.array([x1, x2])
    tmp = np.sum(np.asarray(w) * x) + b
    return 1 if tmp > 0 else 0


def AND(x1, x2) -> int:
    """1 only when both inputs are 1: w = (0.5, 0.5), b = -0.7."""
    return perceptron(x1, x2, *GATES["AND"])


def NAND(x1, x2) -> int:
    """NOT AND: w = (-0.5, -0.5), b = 0.7."""
    return perceptron(x1, x2, *GATES["NAND"])


def OR(x1, x2) -> int:
    """1 when either input is 1: w = (0.5, 0.5), b = -0.2."""
    return perceptron(x1, x2, *GATES["OR"])


def XOR(x1, x2) -> int:
    """The two-layer perceptron: s1 = NAND(x1, x2), s2 = OR(x1, x2), then AND(s1, s2)."""
    s1 = NAND(x1, x2)
    s2 = OR(x1, x2)
    return AND(s1, s2)
