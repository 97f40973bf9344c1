"""Frozen encoders: run an image encoder over every crop once, so training can skip crops afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hyperst.data._crops import iter_crops
from hyperst.data._sections import CROP_KINDS

if TYPE_CHECKING:
    import torch

    from hyperst.data._cache import CropCache
    from hyperst.data._spots import SpotData


def encode_crops(
    spots: SpotData,
    encoder: Callable[[torch.Tensor], torch.Tensor],
    *,
    size: int,
    cache: CropCache | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Encode the spot and niche crops of every spot with a frozen ``encoder``.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`).
    encoder
        Callable taking a float32 batch ``(B, 3, size, size)`` in [0, 1] on ``device`` and returning ``(B, d)``
        (normalisation such as ImageNet mean/std is the encoder's job). A :class:`torch.nn.Module` is put in eval
        mode for the pass and restored afterwards.
    size
        Crop side in pixels (the encoder's input size).
    cache
        Read crops from this cache instead of the image.
    batch_size
        Crops per encoder call.
    device
        Device the batches are moved to.
    progress
        Show a progress bar.

    Returns
    -------
    ``(spot_features, niche_features)``, each ``(n_spots, d)`` float32, indexed like ``spots``; pass them as
    ``features=`` to :class:`~hyperst.data.SpotDataset`.
    """
    import torch
    from tqdm.auto import tqdm

    if cache is not None and (len(cache) != spots.n_spots or cache.size != size):
        raise ValueError(f"`cache` holds {len(cache)} crops of {cache.size} px; expected {spots.n_spots} of {size} px.")
    was_training = getattr(encoder, "training", None)
    if was_training is not None:
        encoder.eval()
    results = []
    try:
        with torch.no_grad():
            for kind in CROP_KINDS:
                out = None
                bar = tqdm(total=spots.n_spots, desc=f"encoding {kind} crops", disable=not progress, leave=False)
                for positions, crops in _batches(spots, kind, size, cache, batch_size):
                    batch = torch.from_numpy(np.ascontiguousarray(crops)).to(device).float().div_(255.0)
                    features = encoder(batch)
                    if not isinstance(features, torch.Tensor) or features.ndim != 2 or len(features) != len(crops):
                        raise TypeError(
                            "`encoder` must return a (batch, features) tensor for a (batch, 3, H, W) input."
                        )
                    if out is None:
                        out = np.empty((spots.n_spots, features.shape[1]), dtype=np.float32)
                    out[positions] = features.float().cpu().numpy()
                    bar.update(len(positions))
                bar.close()
                results.append(out)
    finally:
        if was_training:
            encoder.train()
    return results[0], results[1]


def _batches(spots: SpotData, kind: str, size: int, cache: CropCache | None, batch_size: int):
    if cache is None:
        yield from iter_crops(spots, kind=kind, size=size, batch_size=batch_size)
        return
    crops = cache.get(kind)
    for start in range(0, spots.n_spots, batch_size):
        positions = np.arange(start, min(start + batch_size, spots.n_spots))
        yield positions, np.asarray(crops[positions])
