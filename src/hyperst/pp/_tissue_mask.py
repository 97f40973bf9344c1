"""Tissue mask of an H&E image for ``hst.pp.tile_tissue``: squidpy's ``detect_tissue`` on a downsampled read."""

from __future__ import annotations

import warnings

import numpy as np

from hyperst import data
from hyperst._logging import logger, quiet_loggers

_WORKING_PX_PER_DIAMETER = 8  # tissue is detected at about 1/8 of a spot diameter per pixel
_MAX_WORKING_PIXELS = 25_000_000  # cap of the downsampled read (about 5000 x 5000 px)


def tissue_mask(
    levels: list[data.ImageLevel], channels: tuple[int, ...], mpp: float, spot_diameter_um: float
) -> tuple[np.ndarray, tuple[float, float]]:
    """Tissue mask ``(h, w)`` of a downsampled read and its level-0 pixels per mask pixel ``(x, y)``."""
    rgb, downscale = _working_read(levels, channels, mpp, spot_diameter_um)
    # squidpy's Otsu split always finds two classes, even on blank glass: no stained pixel means no tissue (checked
    # on every 4th pixel, a quarter of a spot's diameter: a smaller piece could hold no spot)
    if not data.tissue_fraction(rgb[None, :, ::4, ::4]).item():
        return np.zeros(rgb.shape[1:], dtype=bool), downscale
    spot_px = np.pi * (spot_diameter_um / 2 / mpp / downscale[0]) ** 2  # a spot's disk in working pixels
    mask = _detect_tissue(rgb, spot_px)
    logger.debug("Tissue detected on a %d x %d px read (%.3g µm/px).", mask.shape[1], mask.shape[0], downscale[0] * mpp)
    return mask, downscale


def _working_read(
    levels: list[data.ImageLevel], channels: tuple[int, ...], mpp: float, spot_diameter_um: float
) -> tuple[np.ndarray, tuple[float, float]]:
    """RGB uint8 ``(3, h, w)`` read at about 1/8 spot diameter per pixel, and its level-0 pixels per pixel.

    Read by hand rather than by squidpy: its ``detect_tissue`` reads the coarsest pyramid level (too coarse for
    spots on a whole-slide pyramid) or the level it is given, and then returns the mask upsampled to level 0 in
    memory (4 bytes per level-0 pixel: tens of GB for a whole slide).
    """
    import dask.array as da

    target = spot_diameter_um / _WORKING_PX_PER_DIAMETER / mpp  # level-0 pixels per working pixel
    fine_enough = [level for level in levels if level.downscale[0] <= target * 1.01]
    level = fine_enough[-1] if fine_enough else levels[0]
    height, width = level.shape_yx
    factor = max(1, int(target / level.downscale[0]))
    while (height // factor) * (width // factor) > _MAX_WORKING_PIXELS:
        factor += 1
    read = da.asarray(level.data)[list(channels)]
    if factor > 1:
        read = da.coarsen(np.mean, read, {1: factor, 2: factor}, trim_excess=True)
    pixels = np.nan_to_num(np.asarray(read.compute(), dtype=np.float32))
    scale = data.value_scale(level.data.dtype, float(pixels.max()) if pixels.size else 0.0)
    rgb = np.clip(pixels * scale, 0, 255).round().astype(np.uint8)
    return rgb, (level.downscale[0] * factor, level.downscale[1] * factor)


def _detect_tissue(rgb: np.ndarray, spot_px: float) -> np.ndarray:
    """Tissue mask of a working read with squidpy's ``detect_tissue`` (Otsu on luminance, glass in the corners).

    Sizes are set in spots rather than squidpy's fractions of the image, which on a whole slide would drop small
    biopsies: pieces smaller than one spot are dropped (no spot fits on them), holes smaller than a quarter spot
    are filled, and every other piece is kept (``n_samples`` above any count, instead of squidpy's split of the
    pieces' areas, which drops the smaller of two biopsies).
    """
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel
    from squidpy.experimental.im import detect_tissue

    pixels = rgb.shape[1] * rgb.shape[2]
    # squidpy's own luminance (same weights) goes through float64 dask arrays: 24 bytes per pixel, and slow
    luminance = np.tensordot(np.array([0.299, 0.587, 0.114], dtype=np.float32), rgb, axes=1)
    grey = Image2DModel.parse(luminance.round().astype(np.uint8)[None], dims=("c", "y", "x"))
    read = SpatialData(images={"read": grey})
    with quiet_loggers("spatialdata._logging"), warnings.catch_warnings():  # squidpy logs every step
        warnings.filterwarnings("ignore", "Parameter `area_threshold` is deprecated", FutureWarning)  # squidpy's call
        labels = detect_tissue(
            read,
            "read",
            method="otsu",
            min_specimen_area_frac=min(1.0, spot_px / pixels),
            close_holes_smaller_than_frac=spot_px / 4 / pixels,
            n_samples=pixels,
            auto_max_pixels=max(pixels, 1),  # the read is already at the working resolution
            inplace=False,
        )
    return np.asarray(labels) > 0
