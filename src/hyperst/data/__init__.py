"""Data layer: sections at physical scale, spot and niche crops, niches, torch datasets and group splits.

``hst.tl`` and the model call this layer; it never imports from :mod:`hyperst.pp`, :mod:`hyperst.tl` or
:mod:`hyperst.pl`. Names load on first access so importing it pulls in neither torch nor spatialdata.

Typical use by the model layer::

    spots = prepare_spots(sdata, table_key="table", genes=panel)  # SpotData: counts, niches, sections
    cache = CropCache(spots, size=224)  # decode crops once
    dataset = SpotDataset(spots, np.flatnonzero(spots.trainable), size=224, cache=cache, augment=True)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY_IMPORTS: dict[str, str] = {
    "PLATFORM_UM": "hyperst.data._grid",
    "CropCache": "hyperst.data._cache",
    "CropView": "hyperst.data._views",
    "crop_views": "hyperst.data._views",
    "GridGeometry": "hyperst.data._grid",
    "GroupLeakageWarning": "hyperst.data.splits",
    "ImageLevel": "hyperst.data._image",
    "Section": "hyperst.data._sections",
    "Split": "hyperst.data.splits",
    "SpotData": "hyperst.data._spots",
    "SpotDataset": "hyperst.data._dataset",
    "batch_plan": "hyperst.data._crops",
    "check_counts": "hyperst.data._table",
    "check_genes": "hyperst.data._table",
    "check_spatialdata": "hyperst.data._table",
    "check_image": "hyperst.data._image",
    "check_n_jobs": "hyperst.data._loader",
    "check_unique_genes": "hyperst.data._table",
    "count_matrix": "hyperst.data._table",
    "crop_batches": "hyperst.data._loader",
    "detect_grid": "hyperst.data._grid",
    "dihedral": "hyperst.data._augment",
    "drop_features": "hyperst.data._feature_store",
    "encode_crops": "hyperst.data._features",
    "extract_crops": "hyperst.data._loader",
    "get_table": "hyperst.data._table",
    "group_kfold": "hyperst.data.splits",
    "image_levels": "hyperst.data._image",
    "iter_crops": "hyperst.data._crops",
    "leave_one_group_out": "hyperst.data.splits",
    "counts_from_expression": "hyperst.data._scale",
    "expression": "hyperst.data._scale",
    "library_sizes": "hyperst.data._table",
    "log2p": "hyperst.data._scale",
    "scale_counts": "hyperst.data._scale",
    "scaled_spot_counts": "hyperst.data._scale",
    "reference_library_size": "hyperst.data._scale",
    "neighbour_graph": "hyperst.data._niches",
    "niche_means": "hyperst.data._niches",
    "obsm_features": "hyperst.data._obsm_features",
    "output_table": "hyperst.data._table",
    "prepare_spots": "hyperst.data._spots",
    "raw_counts_hint": "hyperst.data._table",
    "resolve_genes": "hyperst.data._table",
    "spatial_sample": "hyperst.data._validation",
    "stain_jitter": "hyperst.data._augment",
    "store_location": "hyperst.data._feature_store",
    "stored_features": "hyperst.data._feature_store",
    "table_keys": "hyperst.data._table",
    "tissue_fraction": "hyperst.data._image",
    "spot_tissue_fraction": "hyperst.data._tissue",
    "background_mask": "hyperst.data._image",
    "paint_background": "hyperst.data._image",
    "validation_split": "hyperst.data._validation",
    "value_scale": "hyperst.data._image",
}

__all__ = [  # kept in sync with _LAZY_IMPORTS by a test
    "PLATFORM_UM",
    "CropCache",
    "GridGeometry",
    "GroupLeakageWarning",
    "ImageLevel",
    "Section",
    "Split",
    "SpotData",
    "SpotDataset",
    "batch_plan",
    "check_counts",
    "check_genes",
    "check_spatialdata",
    "check_image",
    "check_n_jobs",
    "check_unique_genes",
    "count_matrix",
    "crop_batches",
    "detect_grid",
    "dihedral",
    "drop_features",
    "encode_crops",
    "extract_crops",
    "get_table",
    "group_kfold",
    "image_levels",
    "iter_crops",
    "leave_one_group_out",
    "counts_from_expression",
    "expression",
    "library_sizes",
    "log2p",
    "scale_counts",
    "scaled_spot_counts",
    "reference_library_size",
    "neighbour_graph",
    "niche_means",
    "obsm_features",
    "output_table",
    "prepare_spots",
    "raw_counts_hint",
    "resolve_genes",
    "spatial_sample",
    "stain_jitter",
    "store_location",
    "stored_features",
    "table_keys",
    "tissue_fraction",
    "CropView",
    "crop_views",
    "spot_tissue_fraction",
    "background_mask",
    "paint_background",
    "validation_split",
    "value_scale",
]

if TYPE_CHECKING:
    from hyperst.data._augment import dihedral, stain_jitter
    from hyperst.data._cache import CropCache
    from hyperst.data._crops import batch_plan, iter_crops
    from hyperst.data._dataset import SpotDataset
    from hyperst.data._feature_store import drop_features, store_location, stored_features
    from hyperst.data._features import encode_crops
    from hyperst.data._grid import PLATFORM_UM, GridGeometry, detect_grid
    from hyperst.data._image import (
        ImageLevel,
        background_mask,
        check_image,
        image_levels,
        paint_background,
        tissue_fraction,
        value_scale,
    )
    from hyperst.data._loader import check_n_jobs, crop_batches, extract_crops
    from hyperst.data._niches import neighbour_graph, niche_means
    from hyperst.data._obsm_features import obsm_features
    from hyperst.data._scale import log2p, reference_library_size, scaled_spot_counts
    from hyperst.data._sections import Section
    from hyperst.data._spots import SpotData, prepare_spots
    from hyperst.data._table import (
        check_counts,
        check_genes,
        check_spatialdata,
        check_unique_genes,
        count_matrix,
        get_table,
        output_table,
        raw_counts_hint,
        resolve_genes,
        table_keys,
    )
    from hyperst.data._tissue import spot_tissue_fraction
    from hyperst.data._validation import spatial_sample, validation_split
    from hyperst.data._views import CropView, crop_views
    from hyperst.data.splits import GroupLeakageWarning, Split, group_kfold, leave_one_group_out


def __getattr__(name: str) -> Any:
    if name not in _LAZY_IMPORTS:
        raise AttributeError(f"module 'hyperst.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_IMPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
