"""Preprocessing: prepare a SpatialData object for HyperST (gene panels, spot grids)."""

from __future__ import annotations

from hyperst.pp._select_genes import select_genes

__all__: list[str] = ["select_genes"]
