"""Spot and niche crops at their physical size, resampled to the encoder's input size, read lazily in batches.

The spot crop is max(spot diameter, 112 µm) across, the niche crop 2 spacings + 1 diameter (the spot and its
first ring of neighbours: about 255 µm on Visium, 500 µm on legacy ST). Each crop is read from the pyramid level
closest to the output resolution; spots are visited in image-chunk order so a batch shares chunk reads. Parts of a
crop outside the image are white (see ``out_of_bounds`` in :func:`~hyperst.data.prepare_spots`), and with
``SpotData.background == "white"`` so is a black background (:func:`~hyperst.data.paint_background`); a
``SpotData.view`` (:class:`~hyperst.data.CropView`) is applied last.
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
    check_crop_options([kind], size)
    indices = np.arange(spots.n_spots) if indices is None else np.asarray(indices, dtype=int)
    levels: dict[int, list[_image.ImageLevel]] = {}
    blocks = _image.BlockCache()
    for section, batch in batch_plan(spots, indices, batch_size):
        crops = read_batch(
            spots, section, indices[batch], kind=kind, size=int(size), fill=fill, levels=levels, blocks=blocks
        )
        yield batch, crops


def check_crop_options(kinds: list[str], size: int) -> None:
    """Raise a ``ValueError`` for an unknown crop kind or a crop size that is not a positive int."""
    if not kinds or any(kind not in CROP_KINDS for kind in kinds):
        raise ValueError(f"`kind` must be one of {CROP_KINDS}, got {kinds[0] if len(kinds) == 1 else kinds!r}.")
    if not (isinstance(size, int | np.integer) and size > 0):
        raise ValueError(f"`size` must be a positive number of pixels, got {size!r}.")


def batch_plan(spots: SpotData, indices: np.ndarray, batch_size: int) -> list[tuple[int, np.ndarray]]:
    """``(section, positions into indices)`` of each batch: section by section, spots in image-chunk order.

    The order depends on the spots only (not on the crop kind or size), so spot and niche batches line up.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    centres = spots.centres_px
    plan = []
    for section_index, section in enumerate(spots.sections):
        positions = np.flatnonzero(spots.section_of[indices] == section_index)
        if positions.size == 0:
            continue
        levels = _image.image_levels(spots.sdata.images[section.image_key], section.image_key)
        positions = positions[_chunk_order(centres[indices[positions]], levels[0])]
        plan.extend(
            (section_index, positions[start : start + batch_size]) for start in range(0, len(positions), batch_size)
        )
    return plan


def read_batch(
    spots: SpotData,
    section_index: int,
    rows: np.ndarray,
    *,
    kind: str,
    size: int,
    fill: int = _image.BACKGROUND,
    levels: dict[int, list[_image.ImageLevel]] | None = None,
    blocks: _image.BlockCache | None = None,
) -> np.ndarray:
    """``(len(rows), 3, size, size)`` uint8 ``kind`` crops of the spots ``rows`` (all of section ``section_index``).

    ``levels`` caches each section's pyramid levels between calls, ``blocks`` the image chunks read.
    """
    section = spots.sections[section_index]
    levels = {} if levels is None else levels
    if section_index not in levels:
        levels[section_index] = _image.image_levels(spots.sdata.images[section.image_key], section.image_key)
    side = section.crop_px(kind)
    level = _image.choose_level(levels[section_index], side, int(size))
    boxes = _image.window_boxes(section.centres_px[spots.position[rows]], side, level)
    crops = _image.read_windows(
        level,
        boxes,
        int(size),
        channels=section.channels,
        scale=section.value_scale,
        fill=fill,
        paint=spots.background == "white",
        blocks=blocks,
    )
    crops = np.stack(crops)
    if spots.view is None:
        return crops
    return spots.view.apply(crops, rows, crop_um=section.crop_um(kind), spot_crop_um=section.crop_um("spot"))


def _chunk_order(centres_px: np.ndarray, level: _image.ImageLevel) -> np.ndarray:
    """Visit spots chunk row by chunk row (snake order) so consecutive crops reuse chunks."""
    chunks = getattr(level.data, "chunks", None)
    chunk_y = chunks[1][0] if chunks else 1024
    chunk_x = chunks[2][0] if chunks else 1024
    row = (centres_px[:, 1] / level.downscale[1] // chunk_y).astype(int)
    x = centres_px[:, 0] / level.downscale[0]
    x = np.where(row % 2 == 0, x, -x)
    return np.lexsort((x // chunk_x, row))
