"""The house's rules, read off the source (ARCHITECTURE.md): two wings over a small core.

Every import in qdrive/ is collected from the AST, module-level and inside functions
alike (a lazy import is for import cost, never a way around a rule), and the graph is
held to: no circles; the core imports no subpackage; the front end and the block wing
never import each other; only the front door, cli and bench/ see both. import-linter
states the same contracts in pyproject.toml for `lint-imports`.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import qdrive

ROOT = Path(qdrive.__file__).resolve().parent
CORE = {"qdrive.errors", "qdrive.diagnostics", "qdrive.model", "qdrive.options",
        "qdrive.dialect", "qdrive._values", "qdrive.probe", "qdrive._aliases", "qdrive.grammar"}
BOTH_WINGS = {"qdrive", "qdrive.cli", "qdrive.__main__"}  # and qdrive.bench.*


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The qdrive modules ``name`` imports anywhere in its body (not under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            yield from subs
            if len(subs) < len(node.names) and target in MODULES:
                yield target
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in MODULES)


GRAPH = {name: set(_imports(name, path)) - {name} for name, path in MODULES.items()}


def _wing(name: str) -> str:
    if name in CORE:
        return "core"
    for wing in ("frontend", "block", "bench"):
        if name == f"qdrive.{wing}" or name.startswith(f"qdrive.{wing}."):
            return wing
    return "top"


def _cycles() -> list[list[str]]:
    # Tarjan's strongly connected components; any of more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    # A parser that found nothing would pass every rule below.
    assert len(MODULES) > 60 and sum(map(len, GRAPH.values())) > 200
    assert "qdrive.block.flags" in GRAPH["qdrive.block.plan"]
    assert "qdrive.frontend._convert" in GRAPH["qdrive.frontend._check"]


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_the_core_imports_no_subpackage() -> None:
    bad = sorted((a, b) for a in GRAPH for b in GRAPH[a]
                 if _wing(a) == "core" and _wing(b) != "core")
    assert bad == []


def test_the_wings_never_import_each_other() -> None:
    bad = sorted((a, b) for a in GRAPH for b in GRAPH[a]
                 if {_wing(a), _wing(b)} == {"frontend", "block"})
    assert bad == []


def test_only_the_front_door_cli_and_bench_import_bench() -> None:
    bad = sorted((a, b) for a in GRAPH for b in GRAPH[a]
                 if _wing(b) == "bench" and _wing(a) != "bench" and a not in BOTH_WINGS)
    assert bad == []


def test_the_rules_catch_a_circle() -> None:
    # The checks above must be able to fail: add an edge that closes a loop and look.
    GRAPH["qdrive.model"].add("qdrive.block.flags")
    try:
        assert any("qdrive.model" in c for c in _cycles())
    finally:
        GRAPH["qdrive.model"].discard("qdrive.block.flags")


@pytest.mark.skipif(importlib.util.find_spec("importlinter") is None,
                    reason="import-linter is not installed (pip install -e '.[test]')")
def test_import_linter_contracts_hold() -> None:
    # The lint-imports command, run through this interpreter (its script may live elsewhere).
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    out = subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=ROOT.parent,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" in out.stdout and "0 broken" in out.stdout, out.stdout
