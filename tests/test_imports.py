"""The package's modules import one another without a circle, lazy imports included.

Data flows one way (data -> layers -> models -> gradients -> optimizer -> trainer ->
reports); a circle means some module reaches backwards.
"""

from __future__ import annotations

import ast
from pathlib import Path

import scratchdl

ROOT = Path(scratchdl.__file__).parent


def module_name(path: Path) -> str:
    return ".".join(("scratchdl", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(
        ".__init__")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere, but under `if TYPE_CHECKING`."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for top in tree.body if isinstance(top, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(top.test) for n in ast.walk(top)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    found = {m for m in found if m in modules}
    # importing a.b.c runs a.b's __init__ too
    return found | {p for m in found for p in parents(m) if p in modules}


def parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def test_no_import_circles():
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {m: imports_of(p, set(paths)) - {m} - set(parents(m)) for m, p in paths.items()}
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        assert m not in path, "import circle: " + " -> ".join(path[path.index(m):] + [m])
        if m not in done:
            for dep in sorted(graph[m]):
                visit(dep, path + [m])
            done.add(m)

    for m in sorted(graph):
        visit(m, [])
