"""The benchmark scripts are not a package: tests load them from their path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(script: str):
    """``benchmarks/<script>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"{script}_benchmark", SCRIPTS / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def accuracy():
    """``benchmarks/accuracy.py`` as a module."""
    return _load("accuracy")


@pytest.fixture(scope="session")
def blend_ceiling():
    """``benchmarks/blend_ceiling.py`` as a module."""
    return _load("blend_ceiling")
