"""Spot lattice geometry: centre-to-centre spacing and the kind of grid (hexagonal Visium, square legacy ST, bins).

The grid decides the physical scale when the data does not state it (Visium spots are 100 µm apart, legacy
Spatial Transcriptomics spots 200 µm, a Visium HD bin is as wide as its name says) and which spots form a spot's
niche (its first ring of neighbours; for bins, the bins within a Visium spot's disk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hyperst._constants import Grid, Unit

# A neighbour counts as "at one spacing" within this factor of the median nearest-neighbour distance;
# the next shells are sqrt(2) (square grid) and sqrt(3) (hexagonal grid) spacings away.
_SHELL_TOLERANCE = 1.2
_MIN_INTERIOR = 0.1  # share of spots with a full first shell needed to call a lattice
_SHELL_CUTOFF = 1.3  # first shell when measuring the spacing: below the sqrt(2) diagonal of a square grid
# Radius of the first ring, in spacings: hexagonal ring at 1, next shell at sqrt(3) = 1.73;
# square ring at 1 and sqrt(2) = 1.41, next shell at 2.
RING_RADIUS = {"hexagonal": 1.35, "square": 1.7}
RING_SIZE = {"hexagonal": 6, "square": 8}
# Visium HD bins touch: a bin's width (circle diameter, or the equal-area diameter of a square, 1.13 widths) is at
# least this share of the lattice spacing; legacy ST spots cover half of it (100 µm spots, 200 µm apart).
BIN_FILL = 0.8
# spatialdata_io.visium_hd names bins elements "{dataset_id}_square_{size:03}um" and their tables "square_{size:03}um".
BIN_NAME = re.compile(r"square_(\d+)um")
PLATFORM_UM = {  # grid kind -> (spot diameter, centre-to-centre spacing) in µm
    "hexagonal": (Unit.VISIUM_SPOT_DIAMETER_UM, Unit.VISIUM_SPOT_SPACING_UM),
    "square": (Unit.LEGACY_ST_SPOT_DIAMETER_UM, Unit.LEGACY_ST_SPOT_SPACING_UM),
}


def bin_size_from_name(name: str) -> float | None:
    """Bin width in µm that a Visium HD element name states (``"slide_square_008um"`` -> 8.0), else ``None``."""
    match = BIN_NAME.search(name)
    return float(match.group(1)) if match and int(match.group(1)) > 0 else None


def niche_radius_um(kind: str, spacing_um: float) -> float | None:
    """Radius around a spot within which the centres of its niche's spots lie, µm; ``None`` on generic layouts.

    Visium and legacy ST: the first ring of the lattice. Bins: the bins whose centres lie in a Visium spot's disk
    (55 µm) around the bin, and at least the bin's own ring (for bins over 16 µm).
    """
    if kind == "bins":
        return max(Unit.BIN_NICHE_DIAMETER_UM / 2, RING_RADIUS["square"] * spacing_um)
    return RING_RADIUS[kind] * spacing_um if kind in RING_RADIUS else None


@dataclass(frozen=True)
class GridGeometry:
    """Lattice of a set of spot centres.

    Attributes
    ----------
    kind
        ``"hexagonal"`` (6 neighbours at one spacing, Visium), ``"square"`` (4 at one spacing, 4 more at
        sqrt(2) spacings: legacy ST) or ``"generic"``. ``"bins"`` (Visium HD) is a square lattice of touching
        spots, told apart from legacy ST by the spots' size, which :func:`detect_grid` does not see.
    spacing
        Median nearest-neighbour distance, in the unit of the coordinates given to :func:`detect_grid`.
    """

    kind: Grid
    spacing: float


def detect_grid(xy: np.ndarray) -> GridGeometry:
    """Find the centre-to-centre spacing of spot centres ``(n, 2)`` and whether they lie on a hexagonal or square grid.

    Parameters
    ----------
    xy
        Spot centres, ``(n, 2)``, any unit (the spacing comes back in it).

    Returns
    -------
    The grid kind and spacing; ``"generic"`` for fewer than 7 spots or no recognisable lattice.
    """
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=float)
    if len(xy) < 2:
        raise ValueError(
            f"Need at least 2 spots to measure the spot spacing, got {len(xy)}. "
            "Pass more spots (the niche is defined by neighbouring spots)."
        )
    tree = cKDTree(xy)
    k = min(len(xy), 9)
    distances, _ = tree.query(xy, k=k)
    nearest = distances[:, 1]
    if not np.any(nearest > 0):
        raise ValueError("All spot centres coincide; check the spot coordinates and their transformation.")
    # The nearest-neighbour distance underestimates the lattice step when positions jitter (legacy ST): take the
    # median over the whole first shell instead.
    first_guess = float(np.median(nearest[nearest > 0]))
    shell = distances[:, 1:][(distances[:, 1:] > 0) & (distances[:, 1:] <= _SHELL_CUTOFF * first_guess)]
    spacing = float(np.median(shell))
    if len(xy) < 7:
        return GridGeometry("generic", spacing)
    # Interior spots of a hexagonal grid have 6 neighbours at one spacing, of a square grid 4 (plus 4 diagonal ones
    # near sqrt(2) spacings); edges have fewer, and random layouts rarely reach these counts (Poisson: < 2%).
    n_close = (distances[:, 1:] <= _SHELL_TOLERANCE * spacing).sum(axis=1)
    diagonal = (np.abs(distances[:, 1:] / spacing - np.sqrt(2)) < 0.15).sum(axis=1)
    if np.mean(n_close == 6) >= _MIN_INTERIOR:
        kind = "hexagonal"
    elif np.mean((n_close == 4) & (diagonal == 4)) >= _MIN_INTERIOR:
        kind = "square"
    else:
        kind = "generic"
    return GridGeometry(kind, spacing)
