"""The notebooks, one per chapter of the book: committed without outputs, and each run top
to bottom in a fresh kernel on the real data, showing the book's printed results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = ["ch02-perceptron", "ch03-neural-networks", "ch04-neural-network-training",
            "ch05-backpropagation", "ch06-training-techniques", "ch07-convolutional-networks",
            "ch08-deep-learning"]

SHOWN = {
    "ch02-perceptron": ["-0.19999999999999996", "AND(1, 1) = 1", "NAND(1, 1) = 0",
                        "OR(0, 0) = 0", "x = (1, 1)  s1 = NAND = 0, s2 = OR = 1  ->  "
                        "AND(s1, s2) = 0  XOR = 0"],
    "ch03-neural-networks": ["[0.26894142 0.73105858 0.88079708]", "[0.31682708 0.69627909]",
                             "[0.01821127 0.24519181 0.73659691] 1.0",
                             "[9.99954600e-01 4.53978686e-05 2.06106005e-09]",
                             "(60000, 784) (60000,) (10000, 784) (10000,)", "Accuracy:0.9352"],
    "ch04-neural-network-training": ["0.09750000000000003 0.5975", "0.510825457099338",
                                     "0.1999999999990898 0.2999999999986347", "[6. 8.]",
                                     "[-6.11110793e-10  8.14814391e-10]",
                                     "[-2.58983747e+13 -1.29524862e+12]",
                                     "[-2.99999994  3.99999992]",
                                     "[1.05414809 0.63071653 1.1328074 ] 2",
                                     "[[ 0.21924763  0.14356247 -0.36281009]",
                                     "train acc 0.94"],
    "ch05-backpropagation": ["price: 220", "dApple: 2.2", "dApple_num: 110", "dTax: 200",
                             "price: 715", "dOrange_num: 165", "dTax: 650", "train acc 0.97"],
    "ch06-training-techniques": ["AdaGrad     1.5", "std=0.01", "train BN", "weight decay 0.1",
                                 "dropout 0.2", "Best-1"],
    "ch07-convolutional-networks": ["(9, 75)", "(90, 75)", "(10, 30, 24, 24) (10, 30, 12, 12)",
                                    "W2 (4320, 100)", "test accuracy 0.9890"],
    "ch08-deep-learning": ["123,552 parameters", "test accuracy: 0.9935", "65 misclassified",
                           "test accuracy (float16): 0.99"],
}
"""Text each notebook's outputs must contain: the book's printed results, where it prints any."""

FIGURES = {"ch02-perceptron": 1, "ch03-neural-networks": 2, "ch04-neural-network-training": 2,
           "ch05-backpropagation": 1, "ch06-training-techniques": 7,
           "ch07-convolutional-networks": 5, "ch08-deep-learning": 2}
"""How many figures each notebook draws inline."""


def test_one_notebook_per_chapter():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == CHAPTERS


@pytest.mark.parametrize("name", CHAPTERS)
def test_committed_without_outputs(name):
    """No outputs and no execution counts, so that a diff shows only what was written."""
    notebook = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert cells
    for cell in cells:
        assert cell["outputs"] == [], f"{name}: a cell has outputs: {cell['source'][:2]}"
        assert cell["execution_count"] is None, f"{name}: a cell has an execution count"
    assert "sys.path" not in json.dumps(notebook)


def outputs(notebook) -> tuple[str, int]:
    """All the text a run printed or returned, and the number of figures it drew."""
    text, figures = [], 0
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                figures += "image/png" in out.data
                text.append(out.data.get("text/plain", ""))
    return "".join(text), figures


@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_runs_top_to_bottom(name, mnist, book_weights, monkeypatch):
    """A fresh kernel, the notebook's folder as working directory, as a learner opens it;
    figures inline (no headless backend forced on the kernel)."""
    import nbclient
    import nbformat

    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    text, figures = outputs(notebook)
    for words in SHOWN[name]:
        assert words in text, f"{name} did not show {words!r}"
    assert figures == FIGURES[name]
    assert "Traceback" not in text
