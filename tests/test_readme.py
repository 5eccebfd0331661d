"""README.ko.md keeps pace with README.md, section by section: the same sections in the
same order, the same code blocks (comments and `<placeholders>` aside, which are
translated), the same number of table rows, and every `scratchdl` command and every
figure of an English section in its Korean counterpart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ENGLISH = (REPO / "README.md").read_text(encoding="utf-8")
KOREAN = (REPO / "README.ko.md").read_text(encoding="utf-8")


def sections(text: str) -> list[tuple[str, str]]:
    """(title, body) of each `## ` section, in order."""
    parts = re.split(r"^## (.*)\n", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def code_blocks(text: str) -> list[str]:
    """Each fenced block, without `#` comments, trailing spaces, empty lines, and with
    every `<placeholder>` reduced to `<>`."""
    blocks = []
    for block in re.findall(r"^```\w*\n(.*?)^```", text, re.M | re.S):
        lines = [re.sub(r"(^|\s)#.*", "", line).rstrip() for line in block.splitlines()]
        blocks.append("\n".join(re.sub(r"<[^>\n]*>", "<>", line) for line in lines if line))
    return blocks


def prose(text: str) -> str:
    """The text outside fenced blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def command_spans(text: str) -> set[str]:
    """The `scratchdl ...` code spans."""
    spans = re.findall(r"`([^`\n]+)`", prose(text))
    return {span for span in spans if span == "scratchdl" or span.startswith("scratchdl ")}


def figures(text: str) -> set[str]:
    """Numbers with a decimal point or thousands separator: 0.9352, 10,000, 6.1.7."""
    return set(re.findall(r"\d+(?:[.,]\d+)+", text))


def table_rows(text: str) -> int:
    return len(re.findall(r"^\|", text, re.M))


def slug(title: str) -> str:
    """The anchor a code host gives a heading: lower case, punctuation dropped, spaces
    to hyphens (letters of any script kept)."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


PAIRS = list(zip(sections(ENGLISH), sections(KOREAN), strict=False))
IDS = [english[0] for english, _ in PAIRS]


def test_the_two_readmes_have_the_same_sections():
    assert len(sections(ENGLISH)) >= 15
    assert len(sections(KOREAN)) == len(sections(ENGLISH)), (
        "README.ko.md has another number of sections than README.md: "
        f"{[t for t, _ in sections(KOREAN)]} against {[t for t, _ in sections(ENGLISH)]}")
    for english, korean in PAIRS:
        assert ("`" in english[0]) == ("`" in korean[0]), (english[0], korean[0])


@pytest.mark.parametrize(("english", "korean"), PAIRS, ids=IDS)
def test_the_same_code_blocks(english, korean):
    assert code_blocks(korean[1]) == code_blocks(english[1]), (
        f"the code of README.ko.md's section {korean[0]!r} differs from {english[0]!r}")


@pytest.mark.parametrize(("english", "korean"), PAIRS, ids=IDS)
def test_the_same_tables(english, korean):
    assert table_rows(korean[1]) == table_rows(english[1])


@pytest.mark.parametrize(("english", "korean"), PAIRS, ids=IDS)
def test_every_command_is_in_the_korean_section(english, korean):
    missing = command_spans(english[1]) - command_spans(korean[1])
    assert not missing, f"README.ko.md's {korean[0]!r} lacks {sorted(missing)}"


@pytest.mark.parametrize(("english", "korean"), PAIRS, ids=IDS)
def test_every_figure_is_in_the_korean_section(english, korean):
    missing = figures(english[1]) - figures(korean[1])
    assert not missing, f"README.ko.md's {korean[0]!r} lacks the figures {sorted(missing)}"


def test_the_checks_have_something_to_compare():
    assert sum(len(code_blocks(body)) for _, body in sections(ENGLISH)) >= 10
    commands = command_spans(ENGLISH)
    assert len(commands) >= 30
    assert "scratchdl evaluate model.npz --dtype float16" in commands
    assert {"0.9352", "0.9890", "0.9935", "10,000"} <= figures(ENGLISH)
    assert any(block.endswith("&& pytest") for block in code_blocks(ENGLISH))


@pytest.mark.parametrize("text", [ENGLISH, KOREAN], ids=["README.md", "README.ko.md"])
def test_links_within_the_page_find_their_heading(text):
    anchors = {slug(title) for title in re.findall(r"^#+ (.*)", prose(text), re.M)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links
    assert set(links) <= anchors, sorted(set(links) - anchors)


def test_the_two_readmes_link_each_other():
    assert "(README.ko.md)" in ENGLISH.split("\n## ", 1)[0]
    assert "(README.md)" in KOREAN.split("\n## ", 1)[0]


@pytest.mark.parametrize("term", ["퍼셉트론", "신경망", "손실 함수", "수치 미분", "기울기",
                                  "경사 하강법", "오차역전파법", "합성곱 신경망", "배치 정규화",
                                  "가중치 감소", "데이터 확장", "형상", "기준 레시피"])
def test_the_korean_editions_terms(term):
    assert term in KOREAN


def test_every_notebook_is_in_its_readme():
    english = sorted((REPO / "notebooks").glob("*.ipynb"))
    korean = sorted((REPO / "notebooks" / "ko").glob("*.ipynb"))
    assert len(english) == len(korean) == 7
    assert all(f"notebooks/{path.name}" in ENGLISH for path in english)
    assert all(f"notebooks/ko/{path.name}" in KOREAN for path in korean)
