"""The data layer loads lazily, exports what it lists, and does not import the user-facing layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hyperst.data

DATA_DIR = Path(hyperst.data.__file__).parent


def test_all_matches_lazy_imports():
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


def test_data_does_not_import_upper_layers():
    for path in DATA_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith(("hyperst.pp", "hyperst.tl", "hyperst.pl")), f"{path.name} imports {name}"
