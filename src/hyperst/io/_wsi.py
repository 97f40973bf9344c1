"""Whole-slide images in (pyramidal) TIFF files as lazy SpatialData image elements."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata.transformations import BaseTransformation


def read_wsi(path: str | Path, *, transformations: Mapping[str, BaseTransformation] | None = None) -> Any:
    """Read an RGB whole-slide TIFF lazily, keeping the pyramid the file already holds.

    Every level of the TIFF's first series (pages or SubIFDs, as written by pyvips, tifffile or scanners) becomes
    one scale of a multiscale image, read through tifffile's zarr view of the file: nothing is decoded until a
    window is computed, so a 100,000-pixel slide costs no memory to open. A TIFF without a pyramid is returned as a
    single-scale image and logged: crops are then cut from full resolution, which works but reads more pixels.

    Parameters
    ----------
    path
        The ``.tif`` file (RGB, ``y, x, 3`` or ``3, y, x``; RGBA keeps its alpha channel, which hyperst ignores).
    transformations
        Transformations of level 0 to coordinate systems (default: identity to ``"global"``).

    Returns
    -------
    A :class:`xarray.DataTree` (several levels) or :class:`xarray.DataArray` (one level) with dims ``c, y, x``,
    validated by :class:`spatialdata.models.Image2DModel`.
    """
    import dask.array as da
    import tifffile
    import zarr
    from spatialdata.models import Image2DModel
    from spatialdata.models.pyramids_utils import dask_arrays_to_datatree
    from spatialdata.transformations import Identity, set_transformation

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Whole-slide image {str(path)!r} does not exist.")
    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        axes, n_levels = series.axes, len(series.levels)
    channel_axis = axes.find("S") if "S" in axes else axes.find("C")
    if len(axes) != 3 or channel_axis not in (0, 2) or "Y" not in axes or "X" not in axes:
        raise ValueError(f"{str(path)!r} holds an image with axes {axes!r}; an RGB slide (YXS or CYX) is needed.")
    # tifffile exposes the file as a zarr store: chunks are the TIFF's tiles (or strips), decoded on demand. The
    # file stays open while the lazy image lives, and is closed when the last reference to it goes.
    tiff = tifffile.TiffFile(path)
    tiff_store = tiff.series[0].aszarr()
    weakref.finalize(tiff_store, tiff.close)
    store = zarr.open(tiff_store, mode="r")
    arrays = [store] if n_levels == 1 else [store[str(level)] for level in range(n_levels)]
    levels = [da.from_zarr(array) for array in arrays]
    levels = [level.transpose(2, 0, 1) if channel_axis == 2 else level for level in levels]
    channels = ["r", "g", "b", "a"][: levels[0].shape[0]]
    transformations = dict(transformations) if transformations else {"global": Identity()}
    if n_levels == 1:
        logger.info(
            "%s has no pyramid: crops are read from full resolution (slower on large slides; a pyramidal TIFF, e.g. "
            "`pyvips` `tiffsave(pyramid=True, tile=True)`, reads faster).",
            path.name,
        )
        return Image2DModel.parse(levels[0], dims=("c", "y", "x"), c_coords=channels, transformations=transformations)
    tree = dask_arrays_to_datatree(levels, dims=["c", "y", "x"], channels=channels)
    set_transformation(tree, transformations, set_all=True)  # coarser levels get their scale from their shapes
    Image2DModel.validate(tree)
    return tree
