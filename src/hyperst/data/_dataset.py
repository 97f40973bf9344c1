"""The torch dataset: (spot crop, niche crop, spot counts, niche counts) per spot, with crop augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from hyperst.data._augment import N_DIHEDRAL, dihedral, stain_jitter
from hyperst.data._loader import extract_crops

if TYPE_CHECKING:
    from hyperst.data._cache import CropCache
    from hyperst.data._spots import SpotData


class SpotDataset(Dataset):
    """Torch dataset over spots yielding ``(spot_image, niche_image, spot_counts, niche_counts)``.

    Images are ``(3, size, size)`` tensors (float in [0, 1], or uint8 with ``as_float=False``); with ``features``
    they are the precomputed encoder outputs instead. Counts are raw float32 (``log2(1 + x)`` is the model's
    job); without counts they are empty ``(0,)`` tensors.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`).
    indices
        Spots in this dataset (e.g. ``spots.trainable`` rows of a split); default all.
    size
        Crop side in pixels (the encoder's input size).
    cache
        Crops decoded once (:class:`~hyperst.data.CropCache`); without it crops are read from the image per item.
    features
        ``(spot_features, niche_features)``, each ``(n_spots, d)``, from :func:`~hyperst.data.encode_crops`:
        frozen encoders skip crops entirely.
    counts
        ``(spot_counts, niche_counts)``, each ``(n_spots, n_genes)``, returned instead of the spots' raw counts
        (e.g. library-size normalised counts, for a model trained on that scale).
    augment
        Apply the same random dihedral transform (flips, quarter turns) to both crops; uses torch's global RNG
        (seeded per worker by :class:`~torch.utils.data.DataLoader`).
    stain_augment
        With ``augment``, also jitter the stain densities of both crops by up to this fraction
        (:func:`~hyperst.data.stain_jitter`); 0 turns it off.
    as_float
        Return images as float32 in [0, 1] rather than uint8.
    views
        Features of augmented views of every spot (:class:`~hyperst.data.CropView`), each shaped like
        ``features``: an item then reads one of ``features`` and the views, drawn uniformly with torch's global RNG.
    """

    def __init__(
        self,
        spots: SpotData,
        indices: Sequence[int] | np.ndarray | None = None,
        *,
        size: int = 224,
        cache: CropCache | None = None,
        features: tuple[np.ndarray, np.ndarray] | None = None,
        counts: tuple[np.ndarray, np.ndarray] | None = None,
        augment: bool = False,
        stain_augment: float = 0.0,
        as_float: bool = True,
        views: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    ) -> None:
        self.spots = spots
        self.indices = np.arange(spots.n_spots) if indices is None else np.asarray(indices, dtype=int)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= spots.n_spots):
            raise IndexError(f"`indices` must lie in [0, {spots.n_spots}).")
        if cache is not None and (len(cache) != spots.n_spots or cache.size != size):
            raise ValueError(
                f"`cache` holds {len(cache)} crops of {cache.size} px; expected {spots.n_spots} of {size} px."
            )
        if features is not None:
            if len(features) != 2 or any(len(f) != spots.n_spots for f in features):
                raise ValueError(f"`features` must be (spot_features, niche_features) with {spots.n_spots} rows each.")
            if augment:
                raise ValueError("`augment=True` needs crops; precomputed `features` cannot be augmented.")
        if views and (features is None or any(len(f) != spots.n_spots for view in views for f in view)):
            raise ValueError(f"`views` need `features` and must have {spots.n_spots} rows each, like `features`.")
        if counts is None and spots.counts is not None:
            counts = (spots.counts, spots.niche_counts)
        if counts is not None and (len(counts) != 2 or any(len(c) != spots.n_spots for c in counts)):
            raise ValueError(f"`counts` must be (spot_counts, niche_counts) with {spots.n_spots} rows each.")
        self.size, self.cache, self.features, self.counts = int(size), cache, features, counts
        self.augment, self.stain_augment, self.as_float = augment, float(stain_augment), as_float
        self.feature_sets = [features, *views] if features is not None else []

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        index = int(self.indices[item])
        if self.features is not None:
            features = self.features
            if len(self.feature_sets) > 1:
                features = self.feature_sets[int(torch.randint(len(self.feature_sets), ()).item())]
            spot, niche = (torch.as_tensor(np.asarray(f[index]), dtype=torch.float32) for f in features)
        else:
            spot, niche = (torch.from_numpy(np.array(crop)) for crop in self._crops(index))
            if self.augment:
                k = int(torch.randint(N_DIHEDRAL, ()).item())
                spot, niche = dihedral(spot, k).contiguous(), dihedral(niche, k).contiguous()
                if self.stain_augment > 0:
                    spot, niche = stain_jitter([spot, niche], self.stain_augment)
            if self.as_float:
                spot, niche = spot.float().div_(255.0), niche.float().div_(255.0)
        return spot, niche, *self._counts(index)

    def _crops(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.cache is not None:
            return self.cache.spot[index], self.cache.niche[index]
        chosen = np.array([index])
        return tuple(extract_crops(self.spots, chosen, kind=kind, size=self.size)[0] for kind in ("spot", "niche"))

    def _counts(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.counts is None:
            return torch.empty(0), torch.empty(0)
        return tuple(torch.from_numpy(np.asarray(c[index], dtype=np.float32)) for c in self.counts)
