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
    "CropCache": "hyperst.data._cache",
    "GridGeometry": "hyperst.data._grid",
    "GroupLeakageWarning": "hyperst.data.splits",
    "Section": "hyperst.data._sections",
    "Split": "hyperst.data.splits",
    "SpotData": "hyperst.data._spots",
    "SpotDataset": "hyperst.data._dataset",
    "detect_grid": "hyperst.data._grid",
    "dihedral": "hyperst.data._dataset",
    "encode_crops": "hyperst.data._features",
    "extract_crops": "hyperst.data._crops",
    "group_kfold": "hyperst.data.splits",
    "iter_crops": "hyperst.data._crops",
    "leave_one_group_out": "hyperst.data.splits",
    "neighbour_graph": "hyperst.data._niches",
    "niche_means": "hyperst.data._niches",
    "prepare_spots": "hyperst.data._spots",
    "tissue_fraction": "hyperst.data._image",
}

__all__ = [  # kept in sync with _LAZY_IMPORTS by a test
    "CropCache",
    "GridGeometry",
    "GroupLeakageWarning",
    "Section",
    "Split",
    "SpotData",
    "SpotDataset",
    "detect_grid",
    "dihedral",
    "encode_crops",
    "extract_crops",
    "group_kfold",
    "iter_crops",
    "leave_one_group_out",
    "neighbour_graph",
    "niche_means",
    "prepare_spots",
    "tissue_fraction",
]

if TYPE_CHECKING:
    from hyperst.data._cache import CropCache
    from hyperst.data._crops import extract_crops, iter_crops
    from hyperst.data._dataset import SpotDataset, dihedral
    from hyperst.data._features import encode_crops
    from hyperst.data._grid import GridGeometry, detect_grid
    from hyperst.data._image import tissue_fraction
    from hyperst.data._niches import neighbour_graph, niche_means
    from hyperst.data._sections import Section
    from hyperst.data._spots import SpotData, prepare_spots
    from hyperst.data.splits import GroupLeakageWarning, Split, group_kfold, leave_one_group_out


def __getattr__(name: str) -> Any:
    if name not in _LAZY_IMPORTS:
        raise AttributeError(f"module 'hyperst.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY_IMPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
