"""Spot and niche crops at their physical size, resampled to the encoder's input size, read lazily in batches.

The spot crop is max(spot diameter, 112 µm) across, the niche crop 2 spacings + 1 diameter (the spot and its
first ring of neighbours: about 255 µm on Visium, 500 µm on legacy ST). Each crop is read from the pyramid level
closest to the output resolution; spots are visited in image-chunk order so a batch shares chunk reads. Parts of a
crop outside the image are white (see ``out_of_bounds`` in :func:`~hyperst.data.prepare_spots`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from hyperst.data import _image
from hyperst.data._sections import CROP_KINDS

if TYPE_CHECKING:
    from hyperst.data._spots import SpotData


def iter_crops(
    spots: SpotData,
    indices: np.ndarray | None = None,
    *,
    kind: str,
    size: int,
    batch_size: int = 64,
    fill: int = _image.BACKGROUND,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(positions, crops)`` batches: ``crops[j]`` (``(3, size, size)`` uint8) belongs to ``indices[positions[j]]``.

    Spots come section by section in image-chunk order; for the same ``spots``, ``indices`` and ``batch_size`` the
    ``"spot"`` and ``"niche"`` batches come in the same order, so the two streams can be zipped.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`).
    indices
        Spots to crop (default all).
    kind
        ``"spot"`` or ``"niche"``.
    size
        Output side in pixels (the encoder's input size).
    batch_size
        Crops read together; memory is about ``batch_size`` windows plus the image chunks they touch.
    fill
        Grey value of padding outside the image.
    """
    if kind not in CROP_KINDS:
        raise ValueError(f"`kind` must be one of {CROP_KINDS}, got {kind!r}.")
    if not (isinstance(size, int | np.integer) and size > 0):
        raise ValueError(f"`size` must be a positive number of pixels, got {size!r}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    indices = np.arange(spots.n_spots) if indices is None else np.asarray(indices, dtype=int)
    centres = spots.centres_px
    for section_index, section in enumerate(spots.sections):
        positions = np.flatnonzero(spots.section_of[indices] == section_index)
        if positions.size == 0:
            continue
        levels = _image.image_levels(spots.sdata.images[section.image_key], section.image_key)
        side = section.crop_px(kind)
        level = _image.choose_level(levels, side, int(size))
        positions = positions[_chunk_order(centres[indices[positions]], levels[0])]  # same order for both kinds
        for start in range(0, len(positions), batch_size):
            batch = positions[start : start + batch_size]
            boxes = _image.window_boxes(centres[indices[batch]], side, level)
            crops = _image.read_windows(
                level, boxes, int(size), channels=section.channels, scale=section.value_scale, fill=fill
            )
            yield batch, np.stack(crops)


def extract_crops(
    spots: SpotData,
    indices: np.ndarray | None = None,
    *,
    kind: str,
    size: int,
    batch_size: int = 64,
    out: np.ndarray | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Crops of the given spots, ``(len(indices), 3, size, size)`` uint8, in the order of ``indices``.

    Parameters
    ----------
    spots
        The spots (:func:`~hyperst.data.prepare_spots`).
    indices
        Spots to crop (default all).
    kind
        ``"spot"`` or ``"niche"``.
    size
        Output side in pixels.
    batch_size
        Crops read together.
    out
        Array to write into (e.g. a memory map), shape ``(len(indices), 3, size, size)``.
    progress
        Show a progress bar.
    """
    n = spots.n_spots if indices is None else len(indices)
    if out is None:
        out = np.empty((n, 3, size, size), dtype=np.uint8)
    elif out.shape != (n, 3, size, size):
        raise ValueError(f"`out` has shape {out.shape}, expected {(n, 3, size, size)}.")
    bar = _progress(progress, n, f"{kind} crops")
    for positions, crops in iter_crops(spots, indices, kind=kind, size=size, batch_size=batch_size):
        out[positions] = crops
        bar.update(len(positions))
    bar.close()
    return out


def _chunk_order(centres_px: np.ndarray, level: _image.ImageLevel) -> np.ndarray:
    """Visit spots chunk row by chunk row (snake order) so consecutive crops reuse chunks."""
    chunks = getattr(level.data, "chunks", None)
    chunk_y = chunks[1][0] if chunks else 1024
    chunk_x = chunks[2][0] if chunks else 1024
    row = (centres_px[:, 1] / level.downscale[1] // chunk_y).astype(int)
    x = centres_px[:, 0] / level.downscale[0]
    x = np.where(row % 2 == 0, x, -x)
    return np.lexsort((x // chunk_x, row))


def _progress(enabled: bool, total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled, leave=False)
