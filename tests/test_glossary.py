"""The Korean texts use the Korean edition's terms: no word of the third column of
`docs/glossary.ko.md` appears in README.ko.md or in the Korean notebooks (their
markdown, and their code's comments and strings)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]

GLOSSARY = REPO / "docs" / "glossary.ko.md"
KOREAN_NOTEBOOKS = sorted((REPO / "notebooks" / "ko").glob("*.ipynb"))


def avoided_words() -> dict[str, str]:
    """Each word of the glossary's third column -> the edition's term to use instead."""
    words, rows = {}, False
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and rows and cells[2]:
            for word in re.split(r",\s*", cells[2]):
                words[word] = cells[1]
        rows = rows or (len(cells) == 3 and set("".join(cells)) == {"-"})
    return words


AVOIDED = avoided_words()


def prose(source: str) -> str:
    """The comments and strings of a code cell: the words a reader reads in it."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith("%")]
    tokens = tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
    kinds = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", None)}
    return "\n".join(t.string for t in tokens if t.type in kinds)


def korean_texts() -> list[tuple[str, str]]:
    """(where, text) for README.ko.md and every cell of the Korean notebooks."""
    texts = [("README.ko.md", (REPO / "README.ko.md").read_text(encoding="utf-8"))]
    for path in KOREAN_NOTEBOOKS:
        for k, cell in enumerate(nbformat.read(path, as_version=4).cells):
            text = cell.source if cell.cell_type == "markdown" else prose(cell.source)
            texts.append((f"notebooks/ko/{path.name} cell {k}", text))
    return texts


def test_the_glossary_lists_words_to_avoid():
    assert AVOIDED["레이어"] == "계층"
    assert AVOIDED["과대적합"] == "오버피팅"
    assert len(AVOIDED) >= 20


def test_the_korean_notebooks_are_there():
    assert len(KOREAN_NOTEBOOKS) == 7


@pytest.mark.parametrize("word", sorted(AVOIDED))
def test_the_editions_term_is_used(word):
    found = [where for where, text in korean_texts() if word in text]
    assert not found, f"{word!r} appears in {', '.join(found)}: write {AVOIDED[word]!r}"
