"""``hst.pp.tile_tissue``: a Visium-like spot grid over the tissue of an H&E slide that has no measured spots.

Tissue is detected by squidpy's ``detect_tissue`` (Otsu threshold on luminance, background oriented by the image
corners, holes filled, debris dropped) on a downsampled read of the image (the coarsest pyramid level fine enough,
then a chunk-wise block mean), never on the full-resolution slide in memory. Spot centres are laid on a hexagonal
(or square) lattice in level-0 pixels of the image, and a spot is kept when most of its disk is tissue. squidpy's
``make_tiles`` / ``make_tiles_from_spots`` are not used: they lay square tiles on a square pixel grid (or around
existing spots), classify them on a level-0 mask and write a labels element into the object; a Visium-like
hexagonal grid of circles at physical spacing is what prediction needs.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst import data
from hyperst._constants import TILES_SUFFIX, TileGrid, Unit, check_choice
from hyperst._logging import logger
from hyperst.pp._tissue_mask import tissue_mask

if TYPE_CHECKING:
    from geopandas import GeoDataFrame
    from spatialdata import SpatialData

_PLAUSIBLE_UM_PER_PX = (0.05, 20.0)  # bright-field scans and their thumbnails
_SCALE_TOLERANCE = 0.01  # relative difference below which two pixel sizes agree


def tile_tissue(
    sdata: SpatialData,
    image_key: str | None = None,
    *,
    spots_key_added: str | None = None,
    spacing_um: float = Unit.VISIUM_SPOT_SPACING_UM,
    spot_diameter_um: float = Unit.VISIUM_SPOT_DIAMETER_UM,
    microns_per_pixel: float | None = None,
    grid: TileGrid = "hexagonal",
    min_tissue_fraction: float = 0.5,
    coordinate_system: str | None = None,
    inplace: bool = True,
    overwrite: bool = False,
) -> GeoDataFrame | None:
    """Lay a spot grid over the tissue of an H&E image, for prediction on slides without measured spots.

    Tissue is detected on a downsampled read of the image (about 8 pixels per spot diameter; a pyramid level
    when there is one), so whole slides never sit in memory at full resolution, with squidpy's
    :func:`~squidpy.experimental.im.detect_tissue` (Otsu threshold on luminance against the glass of the image
    corners; pieces smaller than a spot dropped, holes smaller than a quarter spot filled). Spots are laid on a
    lattice aligned with the image axes and kept when at least ``min_tissue_fraction`` of their disk is
    tissue. The spots are circles in level-0 pixel coordinates of the image with the image's transformations, so
    they share its coordinate system(s), and :func:`hyperst.tl.predict` with ``table_key=None`` and
    ``spots_key=`` the new element predicts for them. It infers the pixel size from the grid (Visium: hexagonal,
    100 µm; legacy ST: square, 200 µm), so a grid of other sizes needs ``microns_per_pixel=`` and
    ``spot_diameter_um=`` there too.

    Parameters
    ----------
    sdata
        SpatialData with the H&E image (RGB, ``c, y, x``; single- or multiscale).
    image_key
        Key of the image in ``sdata.images``; default the only image.
    spots_key_added
        Name of the new shapes element; default ``f"{image_key}_tiles"``.
    spacing_um
        Centre-to-centre spot spacing in µm (Visium: 100; legacy Spatial Transcriptomics: 200).
    spot_diameter_um
        Spot diameter in µm (Visium: 55; legacy Spatial Transcriptomics: 100).
    microns_per_pixel
        Size of a level-0 image pixel in µm, e.g. from the scanner metadata (OpenSlide's ``openslide.mpp-x``).
        Default: the scale of the image's transformation to a coordinate system in µm (see Notes).
    grid
        ``"hexagonal"`` (Visium: rows 0.87 spacings apart, every other row shifted by half a spacing) or
        ``"square"`` (legacy Spatial Transcriptomics).
    min_tissue_fraction
        Keep spots with at least this fraction of their disk on tissue, in ``(0, 1]``.
    coordinate_system
        Coordinate system of the image whose unit is the micrometre, to take the pixel size from; default: the
        image's coordinate systems with a scale (they must agree). With ``microns_per_pixel`` it is only checked
        against that value.
    inplace
        Write the shapes into ``sdata.shapes[spots_key_added]`` (``True``) or return them.
    overwrite
        Replace an existing shapes element of that name.

    Returns
    -------
    With ``inplace=False``, the spots as a circles :class:`~geopandas.GeoDataFrame` (parsed by
    :class:`~spatialdata.models.ShapesModel`); otherwise ``None`` and writes
    ``sdata.shapes[spots_key_added]`` with columns

    - ``radius``: spot radius in level-0 pixels;
    - ``tissue_fraction``: fraction of the spot disk on detected tissue.

    Nothing else in ``sdata`` is modified. Call ``sdata.write_element(spots_key_added)`` to save a backed
    object.

    Notes
    -----
    An H&E-only slide has no spot lattice to infer its scale from, so the pixel size comes from
    ``microns_per_pixel`` or from the image's transformation: a coordinate system to which the image maps with a
    non-identity, isotropic scale (e.g. ``Scale([0.5, 0.5])``) is taken to be in µm, and that scale is the size
    of a level-0 pixel. An identity transformation (pixel coordinates, the default of a freshly parsed image)
    gives no pixel size: pass ``microns_per_pixel=``. Pen marks and other debris darker than the glass count as
    tissue; drop the spots on them from the returned shapes if needed. The threshold separates tissue from the
    glass around it: an image cut inside the tissue (no glass, e.g. in its corners) is split into its darker and
    lighter halves instead.

    Examples
    --------
    >>> sdata = hst.datasets.toy(n_sections=1, seed=0)  # doctest: +SKIP
    >>> hst.pp.tile_tissue(sdata, "S1_image")  # doctest: +SKIP
    >>> sdata.shapes["S1_image_tiles"][["radius", "tissue_fraction"]].head()  # doctest: +SKIP
    >>> hst.tl.predict(sdata, model, table_key=None, spots_key="S1_image_tiles")  # doctest: +SKIP

    An image in pixel coordinates needs the pixel size from the scanner:

    >>> hst.pp.tile_tissue(sdata, "slide", microns_per_pixel=0.25)  # doctest: +SKIP
    """
    data.check_spatialdata(sdata, "hst.pp.tile_tissue")
    image_key = _image_key(sdata, image_key)
    key = spots_key_added if spots_key_added is not None else f"{image_key}{TILES_SUFFIX}"
    _check_options(spacing_um, spot_diameter_um, microns_per_pixel, grid, min_tissue_fraction)
    if inplace:
        _check_key(sdata, key, overwrite)
    element = sdata.images[image_key]
    channels = data.check_image(element, image_key)
    transformations = _transformations(element, image_key)
    mpp = _pixel_size(image_key, transformations, microns_per_pixel, coordinate_system)

    levels = data.image_levels(element, image_key)
    mask, downscale = tissue_mask(levels, channels, mpp, spot_diameter_um)
    tissue_um2 = float(mask.sum()) * downscale[0] * downscale[1] * mpp**2
    if not mask.any():
        raise ValueError(
            f"No tissue detected in image {image_key!r}: no stained (saturated) colour, or no piece of a spot's size. "
            "`tile_tissue` needs a bright-field H&E (or similarly stained) RGB image; for spots you already have, "
            "pass them to `hst.tl.predict(..., spots_key=)`."
        )
    radius_px = spot_diameter_um / 2 / mpp
    centres = _lattice(mask, downscale, spacing_um / mpp, radius_px, grid)
    fraction = _disk_fraction(mask, downscale, centres, radius_px)
    keep = fraction >= min_tissue_fraction
    if not keep.any():
        raise ValueError(
            f"Image {image_key!r} has {tissue_um2 / 1e6:.3g} mm² of tissue, but no {spot_diameter_um:g} µm spot "
            f"has {min_tissue_fraction:.0%} of its disk on it; lower `min_tissue_fraction=` or check "
            f"`microns_per_pixel` ({mpp:.3g} µm/px)."
        )
    shapes = _shapes(centres[keep], fraction[keep], radius_px, transformations)
    logger.info(
        "Tiled image %r: %d %s spots (%g µm across, %g µm apart) over %.3g mm² of tissue at %.3g µm/px.",
        image_key, len(shapes), grid, spot_diameter_um, spacing_um, tissue_um2 / 1e6, mpp,
    )  # fmt: skip
    if data.PLATFORM_UM[grid] != (spot_diameter_um, spacing_um):
        logger.warning(
            "A %s grid of %g µm spots %g µm apart is not the platform's (%g / %g µm): pass "
            "`microns_per_pixel=%.4g, spot_diameter_um=%g` to `hst.tl.predict`, which otherwise infers them from "
            "the grid.",
            grid, spot_diameter_um, spacing_um, *data.PLATFORM_UM[grid], mpp, spot_diameter_um,
        )  # fmt: skip
    if not inplace:
        return shapes
    sdata.shapes[key] = shapes
    logger.info("Wrote the spot grid to `sdata.shapes[%r]`.", key)
    return None


def _image_key(sdata: SpatialData, image_key: str | None) -> str:
    images = list(sdata.images)
    if image_key is None:
        if len(images) != 1:
            raise ValueError(
                f"The SpatialData object has {len(images)} images ({images}); pass `image_key=` to choose one."
            )
        return images[0]
    if image_key not in sdata.images:
        raise KeyError(f"`image_key={image_key!r}` is not an image of the SpatialData object ({images}).")
    return image_key


def _check_options(spacing_um, spot_diameter_um, microns_per_pixel, grid, min_tissue_fraction) -> None:
    check_choice("grid", grid, TileGrid)
    for name, value in (
        ("spacing_um", spacing_um),
        ("spot_diameter_um", spot_diameter_um),
        ("microns_per_pixel", 1.0 if microns_per_pixel is None else microns_per_pixel),
    ):
        if not (isinstance(value, int | float | np.number) and np.isfinite(value) and value > 0):
            raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    if not (0 < min_tissue_fraction <= 1):
        raise ValueError(f"`min_tissue_fraction` must be in (0, 1], got {min_tissue_fraction!r}.")
    if spot_diameter_um > spacing_um:
        logger.warning("Spots of %g µm, %g µm apart, overlap.", spot_diameter_um, spacing_um)


def _check_key(sdata: SpatialData, key: str, overwrite: bool) -> None:
    if key in sdata.shapes:
        if not overwrite:
            raise KeyError(
                f"Shapes {key!r} already exist; pass `overwrite=True` to replace them or `spots_key_added=` "
                "to write a new element."
            )
    elif key in sdata:
        raise KeyError(f"{key!r} already names another element of the SpatialData object; pass `spots_key_added=`.")


def _transformations(element: Any, image_key: str) -> dict[str, Any]:
    from spatialdata.transformations import get_transformation

    transformations = get_transformation(element, get_all=True)
    if not transformations:
        raise ValueError(f"Image {image_key!r} has no coordinate system; parse it with `Image2DModel.parse` first.")
    return dict(transformations)


def _pixel_size(
    image_key: str, transformations: dict[str, Any], microns_per_pixel: float | None, coordinate_system: str | None
) -> float:
    """Level-0 pixel size in µm: ``microns_per_pixel``, else the scale of the image into a µm coordinate system."""
    if coordinate_system is not None and coordinate_system not in transformations:
        raise KeyError(
            f"Image {image_key!r} has no coordinate system {coordinate_system!r} (it has {sorted(transformations)})."
        )
    systems = [coordinate_system] if coordinate_system is not None else sorted(transformations)
    scales = {system: _scale_of(transformations[system]) for system in systems}
    derived = {system: scale for system, scale in scales.items() if scale is not None}
    if microns_per_pixel is not None:
        for system, scale in derived.items():
            if abs(scale / microns_per_pixel - 1) > _SCALE_TOLERANCE:
                logger.warning(
                    "Image %r maps to coordinate system %r at %.4g units/px, but `microns_per_pixel=%g`: the grid "
                    "follows `microns_per_pixel`, so distances in %r are %.3g times their size in µm.",
                    image_key, system, scale, microns_per_pixel, system, scale / microns_per_pixel,
                )  # fmt: skip
        return float(microns_per_pixel)
    if not derived:
        where = f"coordinate system {coordinate_system!r}" if coordinate_system else f"any of {systems}"
        raise ValueError(
            f"Cannot tell the pixel size of image {image_key!r}: its transformation to {where} is an identity or "
            "not an isotropic scale, so no coordinate system in µm is known, and an H&E-only slide has no spot "
            "lattice to infer the scale from. Pass `microns_per_pixel=` (the level-0 pixel size in µm, e.g. from "
            "the scanner metadata: OpenSlide's `openslide.mpp-x`, about 0.25 at 40x and 0.5 at 20x)."
        )
    values = np.array(list(derived.values()))
    if np.ptp(values) > _SCALE_TOLERANCE * values.min():
        raise ValueError(
            f"Image {image_key!r} maps to coordinate systems with different scales {derived}; pass "
            "`coordinate_system=` naming the one in µm, or `microns_per_pixel=`."
        )
    mpp = float(values[0])
    low, high = _PLAUSIBLE_UM_PER_PX
    if not low <= mpp <= high:
        logger.warning(
            "Image %r: taking coordinate system(s) %s as µm gives %.4g µm/px, unusual for H&E; pass "
            "`microns_per_pixel=` if that system is not in µm.",
            image_key, sorted(derived), mpp,
        )  # fmt: skip
    logger.info("Image %r: %.4g µm/px from coordinate system(s) %s.", image_key, mpp, sorted(derived))
    return mpp


def _scale_of(transformation: Any) -> float | None:
    """Isotropic scale of a transformation (``None`` for the identity or anisotropic / degenerate maps)."""
    linear = transformation.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))[:2, :2]
    if np.allclose(linear, np.eye(2)):
        return None
    singular = np.linalg.svd(linear, compute_uv=False)
    if singular.min() <= 0 or singular.max() / singular.min() - 1 > _SCALE_TOLERANCE:
        return None
    return float(np.sqrt(singular.max() * singular.min()))


def _lattice(mask: np.ndarray, downscale: tuple[float, float], spacing_px: float, radius_px: float, grid: str):
    """Lattice points ``(n, 2)`` (level-0 ``x, y``) covering the tissue's bounding box, row by row."""
    rows, cols = np.nonzero(mask)
    x0, x1 = cols.min() * downscale[0] - radius_px, (cols.max() + 1) * downscale[0] + radius_px
    y0, y1 = rows.min() * downscale[1] - radius_px, (rows.max() + 1) * downscale[1] + radius_px
    row_step = spacing_px * np.sqrt(3) / 2 if grid == "hexagonal" else spacing_px
    ys = y0 + np.arange(int(np.ceil((y1 - y0) / row_step)) + 1) * row_step
    xs = x0 + np.arange(int(np.ceil((x1 - x0) / spacing_px)) + 1) * spacing_px
    shift = (np.arange(len(ys)) % 2) * (spacing_px / 2) if grid == "hexagonal" else np.zeros(len(ys))
    x = (xs[None, :] + shift[:, None]).ravel()
    y = np.repeat(ys, len(xs))
    return np.column_stack([x, y])


def _disk_fraction(mask: np.ndarray, downscale: tuple[float, float], centres: np.ndarray, radius_px: float):
    """Fraction of each spot disk on tissue, from mask lookups at a grid of points inside the disk."""
    n_side = int(np.clip(np.ceil(2 * radius_px / min(downscale)), 9, 41))
    steps = ((np.arange(n_side) + 0.5) / n_side * 2 - 1) * radius_px
    dx, dy = (grid.ravel() for grid in np.meshgrid(steps, steps))
    inside = dx**2 + dy**2 <= radius_px**2
    dx, dy = dx[inside], dy[inside]
    height, width = mask.shape
    fraction = np.empty(len(centres))
    for start in range(0, len(centres), 4096):
        block = centres[start : start + 4096]
        cols = np.floor((block[:, :1] + dx) / downscale[0]).astype(np.int64)
        rows = np.floor((block[:, 1:] + dy) / downscale[1]).astype(np.int64)
        valid = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        hits = np.zeros(cols.shape, dtype=bool)
        hits[valid] = mask[rows[valid], cols[valid]]
        fraction[start : start + 4096] = hits.mean(axis=1)
    return fraction


def _shapes(centres: np.ndarray, fraction: np.ndarray, radius_px: float, transformations: dict[str, Any]):
    import pandas as pd
    from spatialdata.models import ShapesModel

    n = len(centres)
    shapes = ShapesModel.parse(
        centres,
        geometry=0,
        radius=np.full(n, radius_px),
        index=pd.RangeIndex(n),
        transformations=copy.deepcopy(transformations),
    )
    shapes["tissue_fraction"] = fraction.astype(np.float32)
    return shapes
