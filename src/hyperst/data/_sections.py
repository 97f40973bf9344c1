"""Section resolution: for each spots element, its image, spot centres in image pixels and the physical scale.

A *section* is one spots element (circles) plus the H&E image it lies on. The image is the one sharing a
coordinate system with the spots (an explicit ``image_key`` overrides); spot centres are mapped
shapes -> coordinate system -> image pixels with :mod:`spatialdata.transformations`; the pixel size in µm comes
from the spot lattice (Visium: 100 µm spacing, legacy ST: 200 µm; Visium HD bins: the bin width their name states
over their spacing in image pixels) unless the user states it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._constants import Unit
from hyperst._logging import logger
from hyperst.data import _image
from hyperst.data._grid import BIN_FILL, PLATFORM_UM, bin_size_from_name, detect_grid, niche_radius_um
from hyperst.data._spot_shapes import match_image, spot_shapes

if TYPE_CHECKING:
    from spatialdata import SpatialData

CROP_KINDS = ("spot", "niche")
# A lattice is the platform's (Visium, legacy ST) when its spacing is within this share of the platform's spacing.
_PLATFORM_TOLERANCE = 0.3


@dataclass(frozen=True, eq=False)
class Section:
    """One spots element and its image, with everything needed to cut crops at a physical size.

    Attributes
    ----------
    spots_key, image_key, coordinate_system
        The shapes element, the image and the coordinate system they share.
    obs_indices
        ``(n,)`` row positions in the table (or in the shapes element when there is no table).
    instance_ids
        ``(n,)`` index values of the spots in the shapes element.
    centres_px
        ``(n, 2)`` spot centres ``x, y`` in full-resolution (level-0) pixels of the image.
    microns_per_pixel
        Size of a level-0 pixel in µm.
    spot_diameter_um, spot_spacing_um
        Spot diameter and centre-to-centre spacing in µm.
    grid
        ``"hexagonal"``, ``"square"``, ``"bins"`` (Visium HD) or ``"generic"`` (see :func:`hyperst.data.detect_grid`).
    channels
        Channel indices of R, G, B.
    value_scale
        Factor mapping stored values to 0-255 (255 for float images in [0, 1]).
    """

    spots_key: str
    image_key: str
    coordinate_system: str
    obs_indices: np.ndarray
    instance_ids: np.ndarray
    centres_px: np.ndarray
    microns_per_pixel: float
    spot_diameter_um: float
    spot_spacing_um: float
    grid: str
    channels: tuple[int, ...]
    value_scale: float

    @property
    def n_spots(self) -> int:
        """Number of spots."""
        return len(self.obs_indices)

    def crop_um(self, kind: str) -> float:
        """Side of the ``"spot"`` or ``"niche"`` crop in µm.

        Spots: max(diameter, 112 µm) and 2 spacings + diameter (the spot and its first ring). Visium HD bins
        (``diameter`` = bin width): the bin and its ring, 3 widths, between 16 and 112 µm, and the niche's disk
        (55 µm across, or the bin's ring for bins over 16 µm) plus one width (docs/data.md, "Visium HD").
        """
        if kind not in CROP_KINDS:
            raise ValueError(f"`kind` must be one of {CROP_KINDS}, got {kind!r}.")
        if self.grid == "bins":
            if kind == "spot":
                ring = min(max(3 * self.spot_diameter_um, Unit.MIN_BIN_CROP_UM), Unit.MIN_SPOT_CROP_UM)
                return max(self.spot_diameter_um, ring)
            return 2 * niche_radius_um("bins", self.spot_spacing_um) + self.spot_diameter_um
        if kind == "spot":
            return max(self.spot_diameter_um, Unit.MIN_SPOT_CROP_UM)
        return 2 * self.spot_spacing_um + self.spot_diameter_um

    def crop_px(self, kind: str) -> float:
        """Side of a crop in level-0 pixels."""
        return self.crop_um(kind) / self.microns_per_pixel


def resolve_sections(
    sdata: SpatialData,
    regions: list[str],
    rows: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    image_key: str | Mapping[str, str] | None = None,
    spot_diameter_um: float | Mapping[str, float] | None = None,
    microns_per_pixel: float | Mapping[str, float] | None = None,
    check_tissue: bool = True,
) -> list[Section]:
    """Resolve every spots element in ``regions``; ``rows[key]`` gives its (obs positions, instance ids)."""
    for name, value in (
        ("image_key", image_key),
        ("spot_diameter_um", spot_diameter_um),
        ("microns_per_pixel", microns_per_pixel),
    ):
        unknown = sorted(set(value) - set(regions)) if isinstance(value, Mapping) else []
        if unknown:
            raise KeyError(f"`{name}` names spots elements {unknown} that are not used (spots elements: {regions}).")
    return [
        _resolve_one(
            sdata,
            key,
            *rows[key],
            image_key=_for(image_key, key),
            spot_diameter_um=_for(spot_diameter_um, key),
            microns_per_pixel=_for(microns_per_pixel, key),
            check_tissue=check_tissue,
        )
        for key in regions
    ]


def _resolve_one(
    sdata, spots_key, obs_indices, instance_ids, *, image_key, spot_diameter_um, microns_per_pixel, check_tissue
):
    shapes = sdata.shapes[spots_key]
    centres, radii = spot_shapes(shapes, instance_ids, spots_key)
    image_key, system, matrix = match_image(sdata, spots_key, centres, image_key)
    element = sdata.images[image_key]
    channels = _image.check_image(element, image_key)
    levels = _image.image_levels(element, image_key)

    centres_px = centres @ matrix[:2, :2].T + matrix[:2, 2]
    scale_px = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    diameter_px = None if radii is None else float(np.median(2 * radii)) * scale_px
    height, width = levels[0].shape_yx
    inside = _inside(centres_px, width, height)
    if not inside.any():
        raise ValueError(
            f"All {len(centres_px)} spots of {spots_key!r} lie outside image {image_key!r} ({width} x {height} px) "
            f"in coordinate system {system!r}; check the transformations of both elements or pass `image_key=`."
        )
    if not inside.all():
        logger.warning("%d of %d spots of %r lie outside image %r.", (~inside).sum(), len(inside), spots_key, image_key)

    grid = detect_grid(centres_px)
    kind = grid.kind
    if kind == "square" and (bin_size_from_name(spots_key) or (diameter_px or 0) >= BIN_FILL * grid.spacing):
        kind = "bins"  # touching squares (or a Visium HD name): bins, not legacy ST's spots half a spacing wide
        mpp, diameter_um = _bin_scale(spots_key, grid.spacing, spot_diameter_um, microns_per_pixel)
    else:
        mpp, diameter_um = _physical_scale(
            spots_key, kind, grid.spacing, diameter_px, spot_diameter_um, microns_per_pixel
        )
    spacing_um = grid.spacing * mpp
    if mpp * max(height, width) > 1e5:
        logger.warning(
            "Image %r would be %.0f mm across at %.3g µm/px; check the scale.",
            image_key,
            mpp * max(height, width) / 1e3,
            mpp,
        )

    section = Section(
        spots_key=spots_key,
        image_key=image_key,
        coordinate_system=system,
        obs_indices=np.asarray(obs_indices),
        instance_ids=np.asarray(instance_ids),
        centres_px=centres_px,
        microns_per_pixel=mpp,
        spot_diameter_um=diameter_um,
        spot_spacing_um=spacing_um,
        grid=kind,
        channels=channels,
        value_scale=1.0,
    )
    sample = np.flatnonzero(inside)[np.linspace(0, inside.sum() - 1, min(32, inside.sum())).astype(int)]
    scale = _image.value_scale(element_dtype(levels), _sample_max(section, levels, sample))
    section = replace(section, value_scale=scale)
    if check_tissue:
        _check_on_tissue(section, levels, sample)
    logger.info(
        "Section %r on image %r: %d spots, %s grid, %.3g µm/px, spot %.0f µm, spacing %.0f µm.",
        spots_key, image_key, section.n_spots, kind, mpp, diameter_um, spacing_um,
    )  # fmt: skip
    return section


def _physical_scale(key, kind, spacing_px, diameter_px, diameter_um, mpp) -> tuple[float, float]:
    """Pixel size and spot diameter: user values first, then the platform implied by the grid."""
    platform = PLATFORM_UM.get(kind)
    if mpp is None and diameter_um is not None and diameter_px is not None:
        mpp = diameter_um / diameter_px
    if mpp is None and platform is not None:
        mpp = platform[1] / spacing_px
    if mpp is None:
        raise ValueError(
            f"Cannot tell the pixel size of spots {key!r}: they lie on neither a hexagonal (Visium) nor a square "
            "(legacy ST) grid. Pass `microns_per_pixel=` (or `spot_diameter_um=` for circles with a radius)."
        )
    if platform is not None and abs(spacing_px * mpp / platform[1] - 1) > _PLATFORM_TOLERANCE:
        platform = None  # a stated pixel size puts the lattice at another spacing (e.g. HEST's Xenium pseudo-spots)
    if diameter_um is None:
        diameter_um = platform[0] if platform is not None else None
    if diameter_um is None and diameter_px is not None:
        diameter_um = diameter_px * mpp
    if diameter_um is None:
        raise ValueError(f"Cannot tell the spot diameter of {key!r} (points without radius); pass `spot_diameter_um=`.")
    if not (mpp > 0 and diameter_um > 0):
        raise ValueError(f"Pixel size and spot diameter must be positive, got {mpp} µm/px and {diameter_um} µm.")
    if diameter_px is not None and abs(diameter_px * mpp / diameter_um - 1) > 0.3:
        logger.warning(
            "Spots %r: circles are %.0f µm across at %.3g µm/px, but the spot diameter is %.0f µm; using %.0f µm.",
            key, diameter_px * mpp, mpp, diameter_um, diameter_um,
        )  # fmt: skip
    return float(mpp), float(diameter_um)


def _bin_scale(key, spacing_px, bin_um, mpp) -> tuple[float, float]:
    """Pixel size and bin width of Visium HD bins: the width stated (argument, then name) over the spacing in pixels.

    Bins tile the capture area, so their lattice spacing in image pixels (measured after the transformations) is
    their width in pixels; the width in µm is ``spot_diameter_um=``, else the ``square_NNNum`` of the element name.
    """
    if bin_um is None:
        bin_um = bin_size_from_name(key)
    if mpp is None and bin_um is None:
        raise ValueError(
            f"Spots {key!r} are touching squares on a square lattice (Visium HD bins), but nothing gives their "
            "size: the element name has no `square_NNNum` (spatialdata_io.visium_hd's names) and neither "
            "`microns_per_pixel=` nor `spot_diameter_um=` (the bin width in µm) was passed. Pass one of them."
        )
    if mpp is None:
        mpp = bin_um / spacing_px
    elif bin_um is None:
        bin_um = spacing_px * mpp
    elif abs(spacing_px * mpp / bin_um - 1) > _PLATFORM_TOLERANCE:
        logger.warning(
            "Bins %r are %.3g µm apart at %.3g µm/px, but %g µm wide; using %.3g µm/px and %g µm bins.",
            key, spacing_px * mpp, mpp, bin_um, mpp, bin_um,
        )  # fmt: skip
    if not (mpp > 0 and bin_um > 0):
        raise ValueError(f"Pixel size and bin width must be positive, got {mpp} µm/px and {bin_um} µm.")
    if bin_um < 4:
        logger.warning(
            "Bins %r are %g µm wide: each niche holds ~%d bins. 8 or 16 µm bins (spatialdata_io.visium_hd(bin_size=8)) "
            "train faster at the same image scale.",
            key, bin_um, round(np.pi * (Unit.BIN_NICHE_DIAMETER_UM / 2 / bin_um) ** 2),
        )  # fmt: skip
    return float(mpp), float(bin_um)


def _sample_max(section: Section, levels: list[_image.ImageLevel], sample: np.ndarray) -> float:
    if element_dtype(levels) == np.uint8:
        return 255.0
    side = section.crop_px("spot")
    level = _image.choose_level(levels, side, 32)
    return _image.sample_max(level, _image.window_boxes(section.centres_px[sample], side, level), section.channels)


def _check_on_tissue(section: Section, levels: list[_image.ImageLevel], sample: np.ndarray) -> None:
    side = section.crop_px("spot")
    level = _image.choose_level(levels, side, 32)
    boxes = _image.window_boxes(section.centres_px[sample], side, level)
    windows = _image.read_windows(level, boxes, 32, channels=section.channels, scale=section.value_scale)
    on_tissue = _image.tissue_fraction(np.stack(windows)) > 0.1
    if not on_tissue.any():
        raise ValueError(
            f"None of {len(sample)} sampled spots of {section.spots_key!r} lies on tissue in image "
            f"{section.image_key!r}: the spots are off-tissue or misregistered. Check the transformations (and "
            "`image_key=`); pass `check_tissue=False` for images that are not bright-field H&E."
        )
    if on_tissue.mean() < 0.5:
        logger.warning(
            "Only %d of %d sampled spots of %r lie on tissue.", on_tissue.sum(), len(sample), section.spots_key
        )


def element_dtype(levels: list[_image.ImageLevel]) -> np.dtype:
    """Dtype of the image values."""
    return np.dtype(levels[0].data.dtype)


def _inside(centres_px: np.ndarray, width: int, height: int) -> np.ndarray:
    x, y = centres_px[:, 0], centres_px[:, 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def _for(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else value
