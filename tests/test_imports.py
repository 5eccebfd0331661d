"""The package's four places import one another in one direction, and no module imports
itself through a circle (lazy imports included).

The book (the top-level modules, layers/, models/, data/) imports nothing from the
application, and from the runtime only its seams; only the book's networks (models/)
and its Trainer reach into the engines, whose fast layers, numerical gradient and Adam
they use. The engines import only the book and the runtime; the runtime never imports
the engines or the application; nothing imports the application but the application
and the command line.
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


BOOK_SEAMS = {"scratchdl.runtime." + m for m in ("backend", "threads", "atomic", "errors",
                                                  "callbacks")}
"""What the book may use of the runtime: the array module, threads, atomic files, errors,
and the callbacks' Progress (the Trainer's epoch lines)."""


def place(module: str) -> str:
    """book, engines, runtime or app."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("engines", "runtime", "app"):
        return parts[1]
    return "app" if module == "scratchdl.__main__" else "book"


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    return {m: imports_of(p, set(paths)) - {m} - set(parents(m)) for m, p in paths.items()}


def test_the_four_places_import_in_one_direction():
    wrong = []
    for module, deps in import_graph().items():
        for dep in deps:
            a, b = place(module), place(dep)
            if b == "app" and a != "app":
                wrong.append(f"{module} imports the application ({dep})")
            elif a == "book" and b == "runtime" and dep not in BOOK_SEAMS | {"scratchdl.runtime"}:
                wrong.append(f"{module} (the book) imports {dep}, not one of the runtime's seams")
            elif a == "book" and b == "engines" and not (module.startswith("scratchdl.models")
                                                          or module == "scratchdl.train"):
                wrong.append(f"{module} (the book) imports the engine {dep}")
            elif a == "runtime" and b == "engines":
                wrong.append(f"{module} (the runtime) imports the engine {dep}")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_tree_shows_the_four_places():
    folders = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert {"engines", "runtime", "app", "layers", "models", "data"} <= folders
    for name in ("engines", "runtime", "app"):
        doc = (ROOT / name / "__init__.py").read_text()
        assert doc.startswith('"""') and "import" in doc.lower()  # place, and its rule
