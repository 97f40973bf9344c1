"""The validation split used for early stopping: whole held-out groups when there are several, else spatial blocks.

Random spots of the training slides make a leaky validation set (neighbouring spots share tissue and niches), so
validation is either a whole section (or patient) or a contiguous block of each section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hyperst._constants import Key, ValidationMode, check_choice
from hyperst._logging import logger

if TYPE_CHECKING:
    from hyperst.data._spots import SpotData


def validation_split(
    spots: SpotData,
    rows: np.ndarray,
    *,
    mode: ValidationMode = "auto",
    groupby: str = "section",
    fraction: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split the spot rows ``rows`` into ``(train, validation)`` row arrays.

    ``"group"`` holds out one whole group of ``obs[groupby]`` (picked by ``seed``); ``"spatial"`` holds out, in
    every section, the ``fraction`` of spots in one band along the section's longer axis; ``"none"`` returns
    no validation rows; ``"auto"`` is ``"group"`` when the rows span at least 3 groups, else ``"spatial"``.
    """
    check_choice("validation", mode, ValidationMode)
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_fraction` must be in (0, 1), got {fraction}.")
    rows = np.asarray(rows, dtype=int)
    rng = np.random.default_rng(seed)
    if mode == "none":
        return rows, rows[:0]
    if mode in ("auto", "group"):
        labels = _group_labels(spots, groupby)[rows]
        groups = np.unique(labels)
        if len(groups) >= (3 if mode == "auto" else 2):
            held_out = groups[rng.integers(len(groups))]
            return rows[labels != held_out], rows[labels == held_out]
        if mode == "group":
            raise ValueError(f"A validation group needs at least 2 groups in {groupby!r}; found {groups.tolist()}.")
    return _spatial_blocks(spots, rows, fraction, rng)


def _group_labels(spots: SpotData, groupby: str) -> np.ndarray:
    """``obs[groupby]`` as strings; without a ``"section"`` column, each spots element is a section (logged)."""
    if groupby in spots.obs:
        return spots.obs[groupby].astype(str).to_numpy()
    if groupby != Key.SECTION:
        raise KeyError(
            f"`validation_groupby={groupby!r}` is not a column of the table's obs; add it or pass another column."
        )
    # Readers such as spatialdata_io.visium / visium_hd write no section column; one element is one slide there.
    logger.info(
        "The table has no obs[%r]: validation groups are the spots elements (%s); add the column to group otherwise.",
        Key.SECTION,
        ", ".join(s.spots_key for s in spots.sections),
    )
    return np.array([s.spots_key for s in spots.sections])[spots.section_of]


def _spatial_blocks(spots: SpotData, rows: np.ndarray, fraction: float, rng: np.random.Generator):
    validation = np.zeros(len(rows), dtype=bool)
    centres = spots.centres_px[rows]
    sections = spots.section_of[rows]
    for section in np.unique(sections):
        members = np.flatnonzero(sections == section)
        xy = centres[members]
        axis = int(np.argmax(np.ptp(xy, axis=0)))
        order = members[np.argsort(xy[:, axis], kind="stable")]
        n_held = max(1, int(round(fraction * len(order))))
        start = rng.integers(0, len(order) - n_held + 1)
        validation[order[start : start + n_held]] = True
    return rows[~validation], rows[validation]


def spatial_sample(
    spots: SpotData, rows: np.ndarray, fraction: float, *, seed: int = 0, n_tiles: int = 20
) -> np.ndarray:
    """Return ``fraction`` of the spot rows ``rows`` as whole spatial tiles of each section, sorted.

    Each section's bounding box is cut into about ``n_tiles`` square tiles; tiles are taken in a random order
    (``seed``) until ``round(fraction x`` the section's rows``)`` spots (at least one) are chosen, the last tile
    from its centre outwards. Chosen spots form blocks, so most other spots are not their neighbours: scores on
    the others are not inflated by shared tissue (a random sample would leave a chosen neighbour next to nearly
    every other spot). ``fraction`` must lie in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"The fraction of spots must be in (0, 1], got {fraction}.")
    rows = np.asarray(rows, dtype=int)
    rng = np.random.default_rng(seed)
    chosen = []
    for section in np.unique(spots.section_of[rows]):
        members = rows[spots.section_of[rows] == section]
        xy = spots.centres_px[members]
        side = max(float(np.sqrt(np.prod(np.ptp(xy, axis=0)) / n_tiles)), 1.0)
        cells = np.floor((xy - xy.min(axis=0)) / side).astype(int)
        tile = np.unique(cells, axis=0, return_inverse=True)[1].ravel()
        order = []
        for t in rng.permutation(tile.max() + 1):
            inside = np.flatnonzero(tile == t)
            distance = np.linalg.norm(xy[inside] - xy[inside].mean(axis=0), axis=1)
            order.append(inside[np.argsort(distance, kind="stable")])
        n_chosen = max(1, int(round(fraction * len(members))))
        chosen.append(members[np.concatenate(order)[:n_chosen]])
    return np.sort(np.concatenate(chosen)) if chosen else rows[:0]
