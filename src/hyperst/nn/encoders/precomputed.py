"""Precomputed embeddings as image features: spot (and niche) vectors already stored in the table's ``obsm``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from hyperst.nn.encoders.base import ImageEncoder

if TYPE_CHECKING:
    from hyperst.data import SpotData


class PrecomputedFeatures(ImageEncoder):
    """Use embeddings computed elsewhere (e.g. with LazySlide, HEST or trident) instead of encoding crops.

    The spot embedding of every spot is read from ``table.obsm[spot_key]``; the niche embedding from
    ``table.obsm[niche_key]`` or, without one, as the mean spot embedding over the spot and its neighbours (the
    same niche hyperst uses for counts). Frozen: the model standardises the features with statistics of the
    training spots and trains what follows. Predicting needs the same keys on the new slide's table.

    Parameters
    ----------
    spot_key
        ``obsm`` key of the spot embeddings.
    niche_key
        ``obsm`` key of the niche embeddings; ``None`` averages spot embeddings over each niche.
    table_key
        Table holding the embeddings.
    out_dim
        Width of the embeddings (``hst.tl.fit`` reads it from the table).
    """

    name: ClassVar[str] = "features"

    def __init__(self, spot_key: str, *, niche_key: str | None = None, table_key: str = "table", out_dim: int):
        super().__init__()
        if out_dim < 1:
            raise ValueError(f"`out_dim` must be positive, got {out_dim}.")
        self.spot_key, self.niche_key, self.table_key = spot_key, niche_key, table_key
        self.out_dim, self.input_size, self.frozen = int(out_dim), 0, True

    def features(self, spots: SpotData, indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Spot and niche features ``(n, out_dim)`` float32 of the spots ``indices`` (default all)."""
        from hyperst.data import niche_means

        tables = spots.sdata.tables
        if self.table_key not in tables:
            raise KeyError(
                f"The 'features' encoder reads table {self.table_key!r}.obsm, which this SpatialData object lacks; "
                "predicting from precomputed features needs the same table and keys on the new slide."
            )
        obsm = tables[self.table_key].obsm
        spot = self._read(obsm, self.spot_key, spots)
        niche = (
            niche_means(spot, spots.neighbours) if self.niche_key is None else self._read(obsm, self.niche_key, spots)
        )
        if indices is None:
            return spot, niche
        return spot[indices], niche[indices]

    def _read(self, obsm: Any, key: str, spots: SpotData) -> np.ndarray:
        if key not in obsm:
            raise KeyError(f"No obsm[{key!r}] in table {self.table_key!r} (obsm keys: {list(obsm)}).")
        values = np.asarray(obsm[key], dtype=np.float32)[spots.obs_indices]
        if values.ndim != 2 or values.shape[1] != self.out_dim:
            raise ValueError(f"obsm[{key!r}] has shape {values.shape}; the model expects {self.out_dim} columns.")
        if not np.isfinite(values).all():
            raise ValueError(f"obsm[{key!r}] contains NaN or infinite values.")
        return values

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Not applicable: precomputed features are read from the table, not computed from crops."""
        raise TypeError("The 'features' encoder does not encode crops; its features come from `table.obsm`.")

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder."""
        return {
            "spot_key": self.spot_key,
            "niche_key": self.niche_key,
            "table_key": self.table_key,
            "out_dim": self.out_dim,
        }
