"""The notebooks, one per chapter of the book, in English and in Korean: committed with
their outputs, each rerun top to bottom in a fresh kernel on the real data printing
what is stored, and the two languages kept in step.

`python notebooks/refresh.py` stores fresh outputs (see its docstring); its
functions run and compare the notebooks here, so the test and the refresh agree.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location("refresh", REPO / "notebooks" / "refresh.py")
refresh = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refresh)

PATHS = refresh.notebook_paths()
IDS = [f"{path.parent.name}/{path.stem}" for path in PATHS]

SHOWN = {
    "ch02-perceptron": ["0 0 0 1", "-0.19999999999999996", "NAND\n(0, 0) -> 1",
                        "AND(s1, s2) = 0; XOR(1, 1) = 0", "6 + 7 = 13"],
    "ch03-neural-networks": ["[0.26894142 0.73105858 0.88079708]", "[0.31682708 0.69627909]",
                             "[0.01821127 0.24519181 0.73659691] 1.0",
                             "[9.99954600e-01 4.53978686e-05 2.06106005e-09]",
                             "(60000, 784) (60000,) (10000, 784) (10000,)", "Accuracy:0.9352"],
    "ch04-neural-network-training": ["0.09750000000000003 0.5975", "0.510825457099338",
                                     "1.406704775046942", "6.00000000000378",
                                     "0.1999999999990898 0.2999999999986347", "[6. 8.]",
                                     "[-6.11110793e-10  8.14814391e-10]",
                                     "[-2.58983747e+13 -1.29524862e+12]",
                                     "[-2.99999994  3.99999992]",
                                     "[1.05414809 0.63071653 1.1328074 ]\n2",
                                     "[[ 0.21924763  0.14356247 -0.36281009]",
                                     "train acc, test acc | 0.9"],
    "ch05-backpropagation": ["price: 220", "dApple: 2.2", "dApple_num: 110", "dTax: 200",
                             "price: 715", "dOrange_num: 165", "dTax: 650",
                             "train acc, test acc | 0.97"],
    "ch06-training-techniques": ["AdaGrad     1.5", "std=0.01", "train BN", "weight decay 0.1",
                                 "dropout 0.2", "Best-1"],
    "ch07-convolutional-networks": ["[[15 16]\n [ 6 15]]", "[[18 19]\n [ 9 18]]",
                                    "[[ 7. 12. 10.  2.]", "4 4\n3 3\n10 11",
                                    "[[2. 3.]\n [4. 2.]]", "(9, 75)", "(90, 75)",
                                    "(10, 30, 24, 24) (10, 30, 12, 12)", "W2 (4320, 100)",
                                    "test accuracy 0.9890"],
    "ch08-deep-learning": ["123,552", "test accuracy:0.9935", "65 misclassified",
                           "calculate accuracy (float16) ... \n0.9935"],
}
"""Text each notebook's outputs must contain, in both languages: the book's printed results,
where it prints any."""

EXERCISES = {"en": ("## Exercises", "### Exercise ", "# Answer"),
             "ko": ("## 연습 문제", "### 연습 문제 ", "# 답")}
"""Each language's heading of the exercises, of one exercise, and first line of an answer."""


def language(path) -> str:
    return "ko" if path.parent.name == "ko" else "en"


def read(path):
    import nbformat

    return nbformat.read(path, as_version=4)


def test_seven_notebooks_in_each_language():
    for folder in refresh.LANGUAGES.values():
        assert sorted(p.stem for p in folder.glob("*.ipynb")) == refresh.CHAPTERS, folder


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_committed_with_outputs(path):
    """Executed top to bottom in one kernel (counts 1, 2, 3, ...), with outputs, and no
    execution timings, absolute paths of this machine or `sys.path` tricks stored."""
    notebook = read(path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{path.name} is not stored executed: run python notebooks/refresh.py {path.name}")
    assert sum(len(c.outputs) for c in code) >= len(code) // 2
    text = json.dumps(notebook)
    for leak in ('"execution": {', "sys.path", str(REPO), str(REPO.parent), "/home/", "/root/"):
        assert leak not in text, f"{path.name} stores {leak!r}"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_conventions(path):
    """The title, the imports cell, and 3-5 exercises each with its answer and explanation."""
    cells = read(path).cells
    title = r"# Chapter \d — \S" if language(path) == "en" else r"# \d장 — \S"
    assert re.match(title, cells[0].source), cells[0].source[:40]
    first_code = next(c.source for c in cells if c.cell_type == "code")
    assert "%matplotlib inline" in first_code
    assert 'plt.rcParams["figure.dpi"] = 72' in first_code
    section, exercise, answer = EXERCISES[language(path)]
    starts = [k for k, c in enumerate(cells) if c.source.startswith(section)]
    assert len(starts) == 1, f"{path.name} needs one {section!r} section, at the end"
    asked = [k for k, c in enumerate(cells) if c.source.startswith(exercise)]
    assert 3 <= len(asked) <= 5 and all(k > starts[0] for k in asked)
    for k in asked:
        assert cells[k + 1].cell_type == "code" and cells[k + 1].source.startswith(answer), (
            f"{cells[k].source.splitlines()[0]}: the next cell is its answer, {answer!r}")
        assert cells[k + 2].cell_type == "markdown", "an answer is followed by its explanation"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_reruns_as_stored(path, mnist, book_weights):
    """A fresh kernel, the notebook's folder as working directory, as a learner opens
    it, figures inline: no error, the text stored (times masked), a figure where one
    is stored, and the book's printed results."""
    stored = read(path)
    fresh = refresh.execute(path)
    found = refresh.differences(stored, fresh)
    assert not found, (f"{path.name} prints other than it stores (python notebooks/refresh.py "
                       f"{path.relative_to(REPO)} stores the new):\n" + "\n".join(found))
    text = "".join(refresh.text_output(c) for c in fresh.cells if c.cell_type == "code")
    for words in SHOWN[path.stem]:
        assert words in text, f"{path.name} did not show {words!r}"


class BlankWords(ast.NodeTransformer):
    """Empties every string of a syntax tree, and reduces an f-string to its fields in a
    fixed order (a translation may reorder them); the fields' code stays."""

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        return ast.Constant("") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.JoinedStr:
        fields = [v for v in node.values if isinstance(v, ast.FormattedValue)]
        return ast.JoinedStr(values=sorted(fields, key=ast.dump))


def code_shape(source: str) -> str:
    """A code cell without its comments and with its strings' words blanked, as code: what
    the two languages must share. IPython `%` lines stay as they are."""
    magics = [line for line in source.splitlines() if line.lstrip().startswith("%")]
    python = "\n".join("" if line.lstrip().startswith("%") else line
                       for line in source.splitlines())
    return "\n".join(magics + [ast.unparse(BlankWords().visit(ast.parse(python)))])


def section_numbers(source: str) -> list[str]:
    """The book's section numbers that a markdown cell's headings start with."""
    return re.findall(r"^#+ (\d+(?:\.\d+)*)\b", source, re.M)


def figure_counts(notebook) -> list[int]:
    return [refresh.figures(c) for c in notebook.cells]


@pytest.mark.parametrize("chapter", refresh.CHAPTERS)
def test_korean_in_step(chapter):
    """The Korean notebook has the English one's cells in the same order: the same code
    up to comments and the words of strings, the same sections, the same figures."""
    en = read(refresh.LANGUAGES["en"] / f"{chapter}.ipynb")
    ko = read(refresh.LANGUAGES["ko"] / f"{chapter}.ipynb")
    assert [c.cell_type for c in en.cells] == [c.cell_type for c in ko.cells]
    for k, (a, b) in enumerate(zip(en.cells, ko.cells, strict=True)):
        where = f"{chapter} cell {k} ({a.source.splitlines()[0] if a.source else ''})"
        if a.cell_type == "code":
            diff = difflib.unified_diff(code_shape(a.source).splitlines(),
                                        code_shape(b.source).splitlines(), "en", "ko", n=0,
                                        lineterm="")
            assert code_shape(a.source) == code_shape(b.source), (
                f"{where}: the code differs:\n" + "\n".join(list(diff)[2:12]))
        else:
            assert section_numbers(a.source) == section_numbers(b.source), (
                f"{where}: section numbers {section_numbers(a.source)} vs "
                f"{section_numbers(b.source)}")
    assert figure_counts(en) == figure_counts(ko)


def test_code_shape_ignores_only_words():
    english = ('%matplotlib inline\nprint(f"{n} of {total} settings")  # the total\n'
               'x = "a"  # a letter\n')
    korean = ('%matplotlib inline\nprint(f"설정 {total}개 중 "\n      f"{n}개")  # 합계\n'
              'x = "가"\n')
    assert code_shape(english) == code_shape(korean)
    assert code_shape(english) != code_shape(english.replace("{total}", "{n + 1}"))
    assert code_shape(english) != code_shape(english.replace("inline", "widget"))
    assert code_shape(english) != code_shape(english.replace('x = "a"', 'y = "a"'))
    assert section_numbers("## 4.2 Loss\ntext 4.3\n### 4.2.4 Batch") == ["4.2", "4.2.4"]


def test_masking_leaves_results_alone():
    line = ("epoch   1 | train acc, test acc | 0.9012, 0.9054 | loss 0.3120 | iter 601/1000, "
            "2.5 s, 240.3 it/s, ETA 1 min 05 s")
    assert refresh.mask(line) == ("epoch   1 | train acc, test acc | 0.9012, 0.9054 | loss "
                                  "0.3120 | iter 601/1000, <time>, <speed>, ETA <time>")
    assert refresh.mask("<Layer at 0x7f3a09>, 12 ms, ETA 00:03") == (
        "<Layer at 0x<address>>, <time>, ETA <time>")
    kept = "100 samples, 3 steps, x = 1 s1 = 0"
    assert refresh.mask(kept) == kept


def test_a_refresh_keeps_what_did_not_change(tmp_path):
    """A cell whose new run differs only in volatile text keeps its stored outputs (no diff);
    one that prints something else takes the new."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    def notebook(*lines):
        return new_notebook(cells=[new_code_cell("run()", outputs=[
            new_output("stream", name="stdout", text=line)]) for line in lines])

    path = tmp_path / "n.ipynb"
    nbformat.write(notebook("loss 0.31, 2.4 s\n", "acc 0.90\n"), path)
    refresh.store(notebook("loss 0.31, 2.6 s\n", "acc 0.91\n"), path)
    texts = [c.outputs[0].text for c in read(path).cells]
    assert texts == ["loss 0.31, 2.4 s\n", "acc 0.91\n"]
