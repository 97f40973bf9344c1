"""Readers of spatial transcriptomics collections that :mod:`spatialdata_io` does not cover (HEST-1k).

Names load on first access, so ``import hyperst.io`` pulls in neither spatialdata nor tifffile.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY_IMPORTS: dict[str, str] = {
    "read_hest": "hyperst.io._hest",
    "read_wsi": "hyperst.io._wsi",
}

__all__ = ["read_hest", "read_wsi"]  # kept in sync with _LAZY_IMPORTS by a test

if TYPE_CHECKING:
    from hyperst.io._hest import read_hest
    from hyperst.io._wsi import read_wsi


def __getattr__(name: str) -> Any:
    if name not in _LAZY_IMPORTS:
        raise AttributeError(f"module 'hyperst.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_IMPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
