"""Chapter 2's gates: the book's truth tables, from the book's weights and biases."""

import pytest

from scratchdl.perceptron import AND, GATES, NAND, OR, XOR

INPUTS = [(0, 0), (1, 0), (0, 1), (1, 1)]
TRUTH_TABLES = {
    AND: [0, 0, 0, 1],
    NAND: [1, 1, 1, 0],
    OR: [0, 1, 1, 1],
    XOR: [0, 1, 1, 0],
}


@pytest.mark.parametrize("gate", list(TRUTH_TABLES), ids=lambda g: g.__name__)
def test_truth_table(gate):
    assert [gate(x1, x2) for x1, x2 in INPUTS] == TRUTH_TABLES[gate]


def test_the_books_weights_and_biases():
    assert GATES == {"AND": ((0.5, 0.5), -0.7), "NAND": ((-0.5, -0.5), 0.7),
                     "OR": ((0.5, 0.5), -0.2)}


def test_xor_is_and_of_nand_and_or():
    for x1, x2 in INPUTS:
        assert XOR(x1, x2) == AND(NAND(x1, x2), OR(x1, x2))
