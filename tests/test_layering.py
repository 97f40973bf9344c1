"""The package's layers import one way and loading stays lazy.

Layers (docs/usage.md, "How the code is organised"): ``pp/tl/pl -> model -> train -> module -> nn -> geometry``,
with ``data`` serving ``model`` and ``tl`` through its public ``__init__``. Every import in ``src/hyperst`` is
checked: a layer imports only the layers below it, another package only through its public modules (no
``hyperst.x._private`` from outside ``hyperst.x``), and no cycle of imports exists at run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hyperst.data

SRC = Path(hyperst.data.__file__).parents[2]  # .../src
# Shared, import-free helpers every layer may use.
BASE = {
    "hyperst",
    "hyperst._constants",
    "hyperst._distributed",
    "hyperst._logging",
    "hyperst._settings",
    "hyperst._warnings",
    "hyperst._docs",
    "hyperst._threads",
    "hyperst.metrics",
    "hyperst.baselines",
}
# Layer -> the layers it may import (besides itself and BASE).
ALLOWED: dict[str, set[str]] = {
    "geometry": set(),
    "nn": {"geometry"},
    "module": {"nn", "geometry"},
    "train": {"module", "nn", "geometry"},
    "data": set(),
    "datasets": {"data", "io"},  # hst.datasets.hest downloads, then reads with hst.io
    "io": {"data"},
    "model": {"train", "module", "nn", "geometry", "data"},
    "pp": {"data"},
    "tl": {"model", "train", "module", "nn", "geometry", "data", "pp"},
    "pl": {"model", "geometry", "data", "tl"},
    "cli": {"tl", "pp", "pl", "model", "data", "datasets", "io"},
    "__main__": {"cli"},  # `python -m hyperst` runs the command line
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "hyperst").rglob("*.py"))}


def _runtime_imports(tree: ast.AST, *, type_level: bool = False) -> list[tuple[str, int]]:
    """``(module, line)`` of every hyperst import outside ``if TYPE_CHECKING:`` blocks (inside too with
    ``type_level``), in functions too."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if not type_level and isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hyperst"):
            for alias in node.names:  # `from hyperst.model import _save_load` imports the submodule
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in MODULES else node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names if a.name.startswith("hyperst"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph(*, type_level: bool = False) -> dict[str, list[tuple[str, int]]]:
    return {
        name: _runtime_imports(ast.parse(path.read_text()), type_level=type_level) for name, path in MODULES.items()
    }


def _layer(module: str) -> str | None:
    return None if module in BASE else module.split(".")[1]


def layer_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    """Messages for every import that goes up, sideways across layers, or into another package's private module."""
    problems = []
    for module, imports in graph.items():
        layer = _layer(module)
        for target, line in imports:
            target_layer = _layer(target)
            if layer is None and target_layer is not None and module != "hyperst":
                problems.append(f"{module}:{line} is shared but imports the layer {target_layer!r}")
            if layer is None or target_layer in (None, layer):
                continue
            if target_layer not in ALLOWED.get(layer, set()):
                problems.append(f"{module}:{line} imports {target}: layer {layer!r} may not import {target_layer!r}")
            if any(part.startswith("_") for part in target.split(".")[2:]):
                problems.append(f"{module}:{line} imports {target}, private to hyperst.{target_layer}")
    return problems


def import_cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), i.e. import cycles, among hyperst's modules."""
    edges = {m: sorted({t for t, _ in imports if t in graph and t != m}) for m, imports in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in edges:
        if node not in index:
            connect(node)
    return cycles


def test_every_module_belongs_to_a_known_layer():
    assert {_layer(m) for m in MODULES} - {None} <= set(ALLOWED)


def test_no_layer_violation():
    assert layer_violations(_graph()) == []


def test_no_import_cycle():
    assert import_cycles(_graph()) == []


def test_no_import_cycle_at_type_level():
    """Annotations too: ``HyperST``'s helpers take data, so nothing under ``model`` imports ``_model`` back."""
    assert import_cycles(_graph(type_level=True)) == []


@pytest.mark.parametrize(
    ("module", "imported", "expected"),
    [
        ("hyperst.nn._alignment", "hyperst.model", "layer 'nn' may not import 'model'"),
        ("hyperst.pp._select_genes", "hyperst.data._table", "private to hyperst.data"),
        ("hyperst.data._spots", "hyperst.tl", "layer 'data' may not import 'tl'"),
        ("hyperst._constants", "hyperst.nn", "shared but imports the layer 'nn'"),
    ],
)
def test_the_checks_catch_a_violation(module, imported, expected):
    graph = _graph()
    graph[module] = [*graph[module], (imported, 1)]
    assert any(expected in problem for problem in layer_violations(graph))


def test_the_checks_catch_a_cycle():
    graph = _graph()
    graph["hyperst.geometry.lorentz"] = [*graph["hyperst.geometry.lorentz"], ("hyperst.nn._alignment", 1)]
    assert any({"hyperst.geometry.lorentz", "hyperst.nn._alignment"} <= set(c) for c in import_cycles(graph))


def test_data_all_matches_lazy_imports():
    assert set(hyperst.data.__all__) == set(hyperst.data._LAZY_IMPORTS)
    for name in hyperst.data.__all__:
        assert getattr(hyperst.data, name) is not None


def test_import_is_light():
    code = (
        "import sys, hyperst.data, hyperst.pp, hyperst.datasets; "
        "print(','.join(m for m in ('torch', 'spatialdata', 'squidpy', 'scanpy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
