"""Frozen encoders: run an image encoder over every crop once, so training can skip crops afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from hyperst.data._loader import check_n_jobs, crop_batches
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
    n_jobs: int = 1,
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
        mode for the pass and restored afterwards. An encoder with ``cpu_features = True`` (numpy features such as
        ``"squidpy"``'s) runs in the crop-reading processes.
    size
        Crop side in pixels (the encoder's input size).
    cache
        Read crops from this cache instead of the image.
    batch_size
        Crops per encoder call.
    device
        Device the batches are moved to.
    n_jobs
        Processes reading crops from the image (see :func:`~hyperst.data.crop_batches`); results do not depend on
        it.
    progress
        Show a progress bar.

    Returns
    -------
    ``(spot_features, niche_features)``, each ``(n_spots, d)`` float32, indexed like ``spots``; pass them as
    ``features=`` to :class:`~hyperst.data.SpotDataset`.
    """
    import torch
    from tqdm.auto import tqdm

    n_jobs = check_n_jobs(n_jobs)
    if cache is not None and (len(cache) != spots.n_spots or cache.size != size):
        raise ValueError(f"`cache` holds {len(cache)} crops of {cache.size} px; expected {spots.n_spots} of {size} px.")
    in_workers = bool(getattr(encoder, "cpu_features", False)) and torch.device(device).type == "cpu"
    run = _Encode(encoder, device)
    was_training = getattr(encoder, "training", None)
    if was_training is not None:
        encoder.eval()
    out: list[np.ndarray | None] = [None] * len(CROP_KINDS)
    bar = tqdm(total=spots.n_spots, desc="encoding crops", disable=not progress, leave=False)
    try:
        if cache is not None:
            batches = _cached_batches(spots, cache, batch_size)
        else:
            transform = run if in_workers else None
            batches = crop_batches(spots, size=size, batch_size=batch_size, n_jobs=n_jobs, transform=transform)
        for positions, outputs in batches:
            for k, output in enumerate(outputs):
                features = output if (in_workers and cache is None) else run(output)
                if out[k] is None:
                    out[k] = np.empty((spots.n_spots, features.shape[1]), dtype=np.float32)
                out[k][positions] = features
            bar.update(len(positions))
    finally:
        bar.close()
        if was_training:
            encoder.train()
    if out[0] is None:
        raise ValueError("There are no spots to encode.")
    return out[0], out[1]


class _Encode:
    """Crops ``(B, 3, H, W)`` uint8 -> ``(B, d)`` float32 features; the same steps in a worker or here."""

    def __init__(self, encoder: Callable, device: str | torch.device) -> None:
        self.encoder, self.device = encoder, device

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            batch = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).float().div_(255.0)
            features = self.encoder(batch)
        if not isinstance(features, torch.Tensor) or features.ndim != 2 or len(features) != len(crops):
            raise TypeError("`encoder` must return a (batch, features) tensor for a (batch, 3, H, W) input.")
        return features.float().cpu().numpy()


def _cached_batches(spots: SpotData, cache: CropCache, batch_size: int):
    for start in range(0, spots.n_spots, batch_size):
        positions = np.arange(start, min(start + batch_size, spots.n_spots))
        yield positions, tuple(np.asarray(cache.get(kind)[positions]) for kind in CROP_KINDS)
