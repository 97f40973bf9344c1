"""Per spot, the share of its spot crop that is stained tissue: computed once per slide, kept in the feature store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hyperst.data._crops import iter_crops
from hyperst.data._feature_store import stored_features
from hyperst.data._image import tissue_fraction

if TYPE_CHECKING:
    from hyperst.data._spots import SpotData


class _TissueFraction:
    """The feature store's view of the tissue fraction: an "encoder" with a name, a size and a configuration."""

    name: ClassVar[str] = "tissue_fraction"
    input_size: ClassVar[int] = 32  # 32 x 32 samples of the crop: a share to about 1/1000

    def config(self) -> dict[str, Any]:
        return {"rule": "saturated colour (hyperst.data.tissue_fraction)"}


def spot_tissue_fraction(spots: SpotData, *, batch_size: int = 256) -> np.ndarray:
    """``(n_spots,)`` float32 share of each spot crop that is stained tissue (:func:`~hyperst.data.tissue_fraction`).

    Read from the feature store when a call on the same spots computed it already.
    """
    encoder = _TissueFraction()

    def compute() -> tuple[np.ndarray, np.ndarray]:
        fraction = np.empty((spots.n_spots, 1), dtype=np.float32)
        for positions, crops in iter_crops(spots, kind="spot", size=encoder.input_size, batch_size=batch_size):
            fraction[positions, 0] = tissue_fraction(crops)
        return fraction, fraction  # the store holds a spot and a niche array: the niche crop is not read

    return stored_features(spots, encoder, compute)[0][:, 0]
