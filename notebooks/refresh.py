"""Run the notebooks and store their outputs: `python notebooks/refresh.py [NOTEBOOK ...]`.

Each notebook runs top to bottom in a fresh kernel, in its own folder, with figures
inline, and is written back with its outputs (all 14, English and Korean, by default).
Execution timings and the interpreter's version are left out of the stored metadata,
so that a refresh's diff shows only what the notebook prints and draws. `--check`
writes nothing: it runs the notebooks and says which cells print something other
than what is stored (`tests/test_notebooks.py` does the same check with these
functions). The data comes the way the package finds it (`SCRATCHDL_DATA`, the user
cache, or a download); `SCRATCHDL_DATA=../shared/data python notebooks/refresh.py`
in this project's layout.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import time
from pathlib import Path

import nbclient
import nbformat
from nbformat import NotebookNode

NOTEBOOKS = Path(__file__).resolve().parent
CHAPTERS = ["ch02-perceptron", "ch03-neural-networks", "ch04-neural-network-training",
            "ch05-backpropagation", "ch06-training-techniques", "ch07-convolutional-networks",
            "ch08-deep-learning"]
LANGUAGES = {"en": NOTEBOOKS, "ko": NOTEBOOKS / "ko"}
"""Each language's folder of the seven notebooks: English here, Korean in ko/."""

VOLATILE = [
    (re.compile(r"\d[\d.,]*\s*it/s"), "<speed>"),
    (re.compile(r"\d[\d.,]*\s*(?:ms|us|µs|min|s)\b(?:\s*\d+\s*s\b)?"), "<time>"),
    (re.compile(r"ETA (?!<time>)[^\s,|]+"), "ETA <time>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x<address>"),
]
"""Text that differs from run to run, and what it is compared as: speeds, times
('2.5 s', '1 min 05 s'), an ETA, memory addresses."""


def notebook_paths() -> list[Path]:
    """All 14 notebooks: the seven chapters in English, then in Korean."""
    return [folder / f"{chapter}.ipynb" for folder in LANGUAGES.values() for chapter in CHAPTERS]


def kernel_env() -> dict[str, str]:
    """The kernel's environment: this one (`SCRATCHDL_DATA` with it), with figures inline
    (no `MPLBACKEND`) and one BLAS thread, as the tests run, so numbers match."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def execute(path: Path) -> NotebookNode:
    """The notebook at `path`, run top to bottom in a fresh kernel in its own folder.

    Raises `nbclient.exceptions.CellExecutionError` at the first cell that fails.
    The file is not written; see `store`.
    """
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", record_timing=False,
        extra_arguments=["--log-level=ERROR"],  # not the kernel's notice about its transport
        resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=kernel_env())
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def store(notebook: NotebookNode, path: Path) -> int:
    """Write the executed notebook to `path`; returns its size in bytes.

    A cell that prints the same as the stored one (up to `VOLATILE` text) and draws the
    same figures keeps its stored outputs, so that a refresh changes only what changed.
    """
    stored = nbformat.read(path, as_version=4)
    if [c.cell_type for c in stored.cells] == [c.cell_type for c in notebook.cells]:
        for old, new in zip(stored.cells, notebook.cells, strict=True):
            if new.cell_type == "code" and same_outputs(old, new):
                new.outputs = old.outputs
    nbformat.write(notebook, path)
    return path.stat().st_size


def mask(text: str) -> str:
    """`text` with its volatile parts (`VOLATILE`) replaced by placeholders."""
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def text_output(cell: NotebookNode) -> str:
    """What a code cell printed and returned, as text (streams and `text/plain`), masked."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", "") + "\n")
    return mask("".join(parts))


def pngs(cell: NotebookNode) -> list[str]:
    """The figures (`image/png`, base64) a code cell drew."""
    return [out.data["image/png"] for out in cell.get("outputs", [])
            if "image/png" in out.get("data", {})]


def figures(cell: NotebookNode) -> int:
    """How many figures a code cell drew."""
    return len(pngs(cell))


def same_outputs(old: NotebookNode, new: NotebookNode) -> bool:
    """Whether two runs of a code cell printed the same (up to `VOLATILE` text) and drew
    the very same figures."""
    return text_output(old) == text_output(new) and pngs(old) == pngs(new)


def differences(stored: NotebookNode, fresh: NotebookNode) -> list[str]:
    """Each code cell whose fresh run prints other text, or draws other figures, than
    `stored` holds: its number, its first line, and a short diff."""
    found = []
    for k, (old, new) in enumerate(zip(stored.cells, fresh.cells, strict=True)):
        if old.cell_type != "code":
            continue
        first_line = old.source.split("\n", 1)[0]
        if figures(old) != figures(new):
            found.append(f"cell {k} ({first_line}): {figures(old)} figures stored, "
                         f"{figures(new)} drawn")
        a, b = text_output(old), text_output(new)
        if a != b:
            diff = difflib.unified_diff(a.splitlines(), b.splitlines(), "stored", "fresh",
                                        n=1, lineterm="")
            lines = list(diff)[2:]
            more = f"\n  ... {len(lines) - 12} more lines" if len(lines) > 12 else ""
            found.append(f"cell {k} ({first_line}) prints other text:\n  "
                         + "\n  ".join(lines[:12]) + more)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, metavar="NOTEBOOK",
                        help="notebooks to run (default: all 14)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; report cells whose outputs differ from the stored")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or notebook_paths()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    status = 0
    for path in paths:
        name = path.relative_to(NOTEBOOKS.parent) if path.is_relative_to(NOTEBOOKS.parent) else path
        start = time.perf_counter()
        try:
            fresh = execute(path)
        except nbclient.exceptions.CellExecutionError as e:
            print(f"{name}: failed\n{e}", file=sys.stderr)
            status = 1
            continue
        seconds = time.perf_counter() - start
        if args.check:
            found = differences(nbformat.read(path, as_version=4), fresh)
            print(f"{name}: {seconds:.1f} s, " + ("as stored" if not found else
                                                   "differs:\n" + "\n".join(found)))
            status |= bool(found)
        else:
            print(f"{name}: {seconds:.1f} s, {store(fresh, path):,} bytes")
    return status


if __name__ == "__main__":
    sys.exit(main())
