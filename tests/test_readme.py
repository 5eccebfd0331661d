"""README.ko.md keeps pace with README.md: every `scratchdl` command line of the English
quick start and command table appears in the Korean one, character for character."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def section(text: str, title: str) -> str:
    """The body of the `## title` section of a Markdown file."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no section {title!r}"
    return match.group(1)


def command_lines(text: str) -> list[str]:
    """Every line of the bash code blocks, and the `scratchdl ...` code spans."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip()]
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    lines += [span for span in re.findall(r"`([^`\n]+)`", outside)
              if span.startswith("scratchdl ") or span == "scratchdl"]
    return lines


ENGLISH = (REPO / "README.md").read_text(encoding="utf-8")
KOREAN = (REPO / "README.ko.md").read_text(encoding="utf-8")
COMMANDS = command_lines(section(ENGLISH, "Quick start")) + command_lines(
    section(ENGLISH, "Commands"))


def test_the_english_readme_has_commands_to_check():
    assert len(COMMANDS) >= 20
    assert "scratchdl evaluate model.npz --dtype float16" in COMMANDS
    assert any(line.endswith("&& scratchdl train") for line in COMMANDS)
    assert any(line.endswith("&& pytest") for line in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_korean_readme(command):
    assert command in KOREAN, f"README.ko.md lacks `{command}`: translate README.md's row"


def test_the_two_readmes_link_each_other():
    assert "(README.ko.md)" in ENGLISH.split("\n## ", 1)[0]
    assert "(README.md)" in KOREAN.split("\n## ", 1)[0]


@pytest.mark.parametrize("term", ["퍼셉트론", "신경망", "손실 함수", "수치 미분", "기울기",
                                  "경사 하강법", "오차역전파법", "합성곱 신경망", "배치 정규화"])
def test_the_korean_editions_terms(term):
    assert term in KOREAN


def test_every_notebook_is_in_both_readmes():
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        name = f"notebooks/{notebook.name}"
        assert name in ENGLISH and name in KOREAN
