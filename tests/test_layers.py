"""The layers of the package import one way, with no cycle, and tests use public names only.

    models, errors, timing    the vocabulary, the exception tree, clocks and sleeps
    config, i18n, logs        settings, messages, logging
    read/, api/, state/       a file -> rows; the API (client, limiter, retries, connecting);
                              what outlives a run (the ledger)
    validate/                 what a row means before anything is sent
    report/                   result CSV, workbook, summary.json, plan.json
    run/                      the durable frame, the import's row path, undo
    setup/                    doctor, init
    cli/                      the command line

``sandbox/`` is a leaf: it imports nothing of the rest but the vocabulary, and only the
connecting code (``api/``) and the ``sandbox`` command (``cli/``) import it. Imports under
``if TYPE_CHECKING:`` are not imports at run time and do not count.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "importer"
LAYERS = {
    "models": 0,
    "errors": 0,
    "timing": 0,
    "config": 1,
    "i18n": 1,
    "logs": 1,
    "read": 2,
    "api": 2,
    "state": 2,
    "validate": 3,
    "report": 4,
    "run": 5,
    "setup": 6,
    "cli": 7,
}
TOP = {"importer", "importer.__init__", "importer.__main__"}  # the public face: anything


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """The importer modules ``path`` imports when it runs (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "importer":
                found |= {f"importer.{alias.name}" for alias in node.names}
            elif node.module.startswith("importer."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("importer.")}
    return found


def layer_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


GRAPH = {module_name(path): runtime_imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_a_layer() -> None:
    unplaced = sorted(
        m for m in GRAPH if m not in TOP and layer_of(m) not in LAYERS and layer_of(m) != "sandbox"
    )
    assert unplaced == []


def test_layers_import_only_from_the_layers_before_them() -> None:
    wrong = []
    for module, imported in GRAPH.items():
        if module in TOP:
            continue
        here = layer_of(module)
        for target in imported:
            there = layer_of(target)
            if there == "sandbox":
                if here not in ("sandbox", "api", "cli"):
                    wrong.append(f"{module} -> {target} (only api/ and cli/ use the sandbox)")
            elif here == "sandbox":
                if LAYERS.get(there, 99) > 0:
                    wrong.append(f"{module} -> {target} (the sandbox is a leaf)")
            elif there != here and LAYERS[there] > LAYERS[here]:
                wrong.append(f"{module} -> {target}")
            elif there == here and target.count(".") == 1 and module.count(".") == 2:
                wrong.append(f"{module} -> {target} (its own package's __init__: a cycle)")
    assert wrong == []


def test_there_is_no_import_cycle() -> None:
    modules = {m for m in GRAPH}
    edges = defaultdict(set)
    for module, imported in GRAPH.items():
        edges[module] = {t for t in imported if t in modules and t != module}
    cycles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], module, target]))
            elif target not in state:
                visit(target, [*path, module] if module not in path else path)
        state[module] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [])
    assert cycles == []


@pytest.mark.parametrize("root", ["tests", "bench", "scripts"])
def test_tests_and_tools_import_public_names_only(root: str) -> None:
    private = []
    for path in sorted((REPO / root).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("importer"):
                parts = (node.module or "").split(".")
                names = [a.name for a in node.names]
                if any(p.startswith("_") for p in parts) or any(n.startswith("_") for n in names):
                    private.append(f"{path.relative_to(REPO)}: from {node.module} import {names}")
    assert private == []


def test_each_package_says_what_it_offers() -> None:
    """One public __all__ per package, and every name in it is there (as httpx does)."""
    import importlib

    for init in sorted(PACKAGE.glob("*/__init__.py")):
        name = module_name(init)
        module = importlib.import_module(name)
        assert module.__doc__, name
        exported = getattr(module, "__all__", None)
        assert exported, f"{name} has no __all__"
        assert sorted(n for n in exported if not hasattr(module, n)) == [], name
