"""Image features stored in a table's ``obsm`` (embeddings computed elsewhere) for the spots of a ``SpotData``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst.data._niches import niche_means

if TYPE_CHECKING:
    from hyperst.data._spots import SpotData


def obsm_features(
    spots: SpotData, *, spot_key: str, niche_key: str | None, table_key: str, out_dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spot and niche features ``(n_spots, out_dim)`` float32 read from ``table.obsm`` in the spots' order.

    Without ``niche_key`` the niche feature is the mean spot feature over the spot and its neighbours (the same
    niche hyperst uses for counts).
    """
    tables = spots.sdata.tables
    if table_key not in tables:
        raise KeyError(
            f"The 'features' encoder reads table {table_key!r}.obsm, which this SpatialData object lacks; "
            "predicting from precomputed features needs the same table and keys on the new slide."
        )
    obsm = tables[table_key].obsm
    spot = _read(obsm, spot_key, spots, table_key, out_dim)
    if niche_key is None:
        return spot, niche_means(spot, spots.neighbours)
    return spot, _read(obsm, niche_key, spots, table_key, out_dim)


def _read(obsm: Any, key: str, spots: SpotData, table_key: str, out_dim: int) -> np.ndarray:
    if key not in obsm:
        raise KeyError(f"No obsm[{key!r}] in table {table_key!r} (obsm keys: {list(obsm)}).")
    values = np.asarray(obsm[key], dtype=np.float32)[spots.obs_indices]
    if values.ndim != 2 or values.shape[1] != out_dim:
        raise ValueError(f"obsm[{key!r}] has shape {values.shape}; the model expects {out_dim} columns.")
    if not np.isfinite(values).all():
        raise ValueError(f"obsm[{key!r}] contains NaN or infinite values.")
    return values
