"""Precomputed embeddings as image features: spot (and niche) vectors already stored in the table's ``obsm``."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from hyperst.nn.encoders.base import ImageEncoder


class PrecomputedFeatures(ImageEncoder):
    """Use embeddings computed elsewhere (e.g. with LazySlide, HEST or trident) instead of encoding crops.

    The spot embedding of every spot is read from ``table.obsm[spot_key]``; the niche embedding from
    ``table.obsm[niche_key]`` or, without one, as the mean spot embedding over the spot and its neighbours (the
    same niche hyperst uses for counts). The model reads them (:func:`hyperst.data.obsm_features`); this class
    only records where they are. Frozen: the model standardises the features with statistics of the
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
