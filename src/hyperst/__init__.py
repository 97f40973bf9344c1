"""Predict spatial gene expression from H&E histology with hierarchical hyperbolic alignment (HyperST).

The public namespaces follow scanpy: :mod:`hyperst.pp` (preprocessing), :mod:`hyperst.tl` (tools),
:mod:`hyperst.pl` (plots), :mod:`hyperst.datasets` and :mod:`hyperst.io` (readers). They are imported on first access, so
``import hyperst`` stays light: torch, spatialdata and friends load only when a function needs them. ``hst.settings``
(:class:`hyperst._settings.Settings`) switches how much of the package's log shows.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from hyperst._settings import settings
from hyperst._warnings import ignore_foreign_warnings

__version__ = version("hyperst")
ignore_foreign_warnings()

# Public name -> module that defines it; resolved on first attribute access.
_LAZY_IMPORTS: dict[str, str] = {
    "HyperST": "hyperst.model",
    "datasets": "hyperst.datasets",
    "io": "hyperst.io",
    "pl": "hyperst.pl",
    "pp": "hyperst.pp",
    "tl": "hyperst.tl",
}

# kept in sync with _LAZY_IMPORTS (and the eager `settings`) by a test
__all__ = ["HyperST", "__version__", "datasets", "io", "pl", "pp", "settings", "tl"]

if TYPE_CHECKING:
    from hyperst import datasets, io, pl, pp, tl
    from hyperst.model import HyperST


def __getattr__(name: str) -> Any:
    if name not in _LAZY_IMPORTS:
        raise AttributeError(f"module 'hyperst' has no attribute {name!r}")
    module = importlib.import_module(_LAZY_IMPORTS[name])
    value = module if module.__name__ == f"hyperst.{name}" else getattr(module, name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
