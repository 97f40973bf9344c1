"""Preprocessing: prepare a SpatialData object for HyperST (gene panels, spot grids)."""

from __future__ import annotations

__all__: list[str] = []
