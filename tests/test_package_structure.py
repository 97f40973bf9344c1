"""Conventions every public function follows (scanpy's test_package_structure, adapted)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from types import ModuleType

import pytest

import hyperst as hst

NAMESPACES = ("pp", "tl", "pl", "datasets", "io")


def _public_functions():
    for namespace in NAMESPACES:
        module = getattr(hst, namespace)
        for name in module.__all__:
            yield f"hst.{namespace}.{name}", getattr(module, name)


def test_all_names_exist():
    for name in hst.__all__:
        assert hasattr(hst, name), name
    for namespace in NAMESPACES:
        module = getattr(hst, namespace)
        assert isinstance(module, ModuleType)
        for name in module.__all__:
            assert callable(getattr(module, name)), f"hst.{namespace}.{name}"


def test_all_matches_lazy_imports():
    assert set(hst.__all__) == {"__version__", "settings", *hst._LAZY_IMPORTS}  # settings: eager, it is light


def test_dir_lists_public_names():
    assert set(hst.__all__) <= set(dir(hst))


def test_unknown_attribute_raises():
    with pytest.raises(AttributeError, match="no attribute 'not_a_function'"):
        _ = hst.not_a_function


@pytest.mark.parametrize(("name", "func"), list(_public_functions()))
def test_options_are_keyword_only(name, func):
    positional = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
    ]
    assert len(positional) <= 2, f"{name}: options after the first two parameters must be keyword-only"


@pytest.mark.parametrize(("name", "func"), list(_public_functions()))
def test_documented(name, func):
    doc = inspect.getdoc(func) or ""
    assert doc.strip(), f"{name} has no docstring"
    parameters = inspect.signature(func).parameters.values()
    names = {f"**{p.name}" if p.kind == p.VAR_KEYWORD else p.name for p in parameters if p.name != "self"}
    missing = [p for p in names if f"\n{p}\n" not in f"\n{doc}\n" and f"\n{p} :" not in doc]
    assert not missing, f"{name}: parameters missing from the docstring: {missing}"


def test_import_is_light():
    code = (
        "import sys, hyperst; "
        "heavy = [m for m in ('torch', 'spatialdata', 'squidpy', 'scvi', 'spatialdata_plot', 'scanpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"`import hyperst` imported {result.stdout.strip()}"


def test_every_public_name_has_an_api_page():
    from pathlib import Path

    api = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    listed = {line.strip() for line in api.splitlines()}
    names = [f"{namespace}.{name}" for namespace in NAMESPACES for name in getattr(hst, namespace).__all__]
    names += [name for name in hst.__all__ if name not in {"__version__", *NAMESPACES}]
    missing = [name for name in names if name not in listed]
    assert not missing, f"public names without an entry in docs/api.md: {missing}"


MAX_LINES_OF_CODE = 60  # per function, docstring, blank and comment lines aside
MAX_PARAMETERS = 15  # per function outside the user-facing hst.tl / hst.pl / hst.pp, *args and **kwargs included
USER_FACING = ("tl", "pl", "pp")  # scanpy-style functions: every option a keyword of its own
LONG_ALLOWED = {("cli/_parser.py", "build_parser")}  # one argparse call per option


def _function_sizes():
    """``(file, name, lines of code, parameters)`` of every function in ``src/hyperst``."""
    import ast
    from pathlib import Path

    root = Path(hst.__file__).parent
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            code = lines[body[0].lineno - 1 : node.end_lineno] if body else []
            loc = sum(1 for line in code if line.strip() and not line.strip().startswith("#"))
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")]
            yield path.relative_to(root).as_posix(), node.name, loc, len(names) + bool(args.vararg) + bool(args.kwarg)


def test_functions_stay_short():
    long = [(f, n, loc) for f, n, loc, _ in _function_sizes() if loc > MAX_LINES_OF_CODE and (f, n) not in LONG_ALLOWED]
    assert long == []


def test_functions_take_few_parameters_below_the_user_facing_layer():
    many = [(f, n, p) for f, n, _, p in _function_sizes() if p > MAX_PARAMETERS and f.split("/")[0] not in USER_FACING]
    assert many == []
