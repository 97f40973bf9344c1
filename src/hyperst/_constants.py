"""Default names of every table, column, layer, obsm and uns key hyperst reads or writes.

Keep string literals for container keys here only, so the public contract (DESIGN.md §1) lives in one place.
"""

from __future__ import annotations

from typing import Final


class Key:
    """Container keys (tables, columns, layers, obsm, uns)."""

    # tables
    TABLE: Final = "table"  # input counts table
    OUTPUT_TABLE: Final = "hyperst"  # prediction table written by ``tl.predict``

    # table.obs / table.var columns
    REGION: Final = "region"  # SpatialData region_key written by hyperst
    INSTANCE: Final = "spot_id"  # SpatialData instance_key written by hyperst
    SECTION: Final = "section"
    PATIENT: Final = "patient"
    GENE_SELECTED: Final = "hyperst_gene"

    # layers / obsm / uns of the output table
    PREDICTED: Final = "predicted"
    OBSERVED: Final = "observed"
    SPATIAL: Final = "spatial"
    UNS: Final = "hyperst"
    METRICS: Final = "metrics"


class Unit:
    """Physical sizes used across the package, in micrometres."""

    VISIUM_SPOT_DIAMETER_UM: Final = 55.0
    VISIUM_SPOT_SPACING_UM: Final = 100.0
    LEGACY_ST_SPOT_DIAMETER_UM: Final = 100.0
    LEGACY_ST_SPOT_SPACING_UM: Final = 200.0
    MIN_SPOT_CROP_UM: Final = 112.0


class DataKey:
    """Keys and names of the data layer (gene panel record, dataset cache, grid kinds)."""

    GENE_SELECTION_UNS: Final = "hyperst_genes"  # table.uns record written by ``pp.select_genes``
    DATA_DIR_ENV: Final = "HYPERST_DATA_DIR"  # cache directory and offline override of the dataset registry
    GRID_HEXAGONAL: Final = "hexagonal"  # Visium: 6 neighbours at one spacing
    GRID_SQUARE: Final = "square"  # legacy Spatial Transcriptomics: 8 neighbours in the first ring
    GRID_GENERIC: Final = "generic"  # anything else: k nearest neighbours


# Default image encoder of `hst.tl.fit` and `HyperST`: frozen squidpy colour/texture features. On small data they
# match a CNN trained end to end at a fraction of the cost (docs/benchmarks.md, "Default image encoder").
DEFAULT_ENCODER: Final = "squidpy"

# Suffix of the spot grid written by `hst.pp.tile_tissue`: shapes f"{image_key}_tiles".
TILES_SUFFIX: Final = "_tiles"
