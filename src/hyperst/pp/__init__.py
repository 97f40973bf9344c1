"""Preprocessing: prepare a SpatialData object for HyperST (gene panels, spot grids)."""

from __future__ import annotations

from hyperst.pp._select_genes import select_genes
from hyperst.pp._tile_tissue import tile_tissue

__all__: list[str] = ["select_genes", "tile_tissue"]
