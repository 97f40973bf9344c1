"""Synthetic slides for the speed benchmarks: a lazy dask-backed H&E-sized image and Visium-like spots.

The image is never materialised: each chunk is generated when a crop reads it (a fresh array, as a zarr or TIFF
read would allocate), so slides of any size cost only the chunks under a batch of spots. Spots sit on a
hexagonal grid with 100 µm spacing and 55 µm diameter, like Visium.
"""

from __future__ import annotations

import numpy as np

CHUNK = 1024
SPOT_SPACING_UM = 100.0
SPOT_DIAMETER_UM = 55.0


def lazy_slide(side: int, chunk: int = CHUNK):
    """A ``(3, side, side)`` uint8 dask array whose chunks are generated on access (one texture copied per chunk)."""
    import dask.array as da

    texture = np.random.default_rng(0).integers(0, 256, (3, chunk, chunk), dtype=np.uint8)

    def block(block_info=None):
        (_, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        return texture[:, : y1 - y0, : x1 - x0].copy()

    chunks = ((3,), _chunks(side, chunk), _chunks(side, chunk))
    return da.map_blocks(block, dtype=np.uint8, chunks=chunks)


def _chunks(side: int, chunk: int) -> tuple[int, ...]:
    return (chunk,) * (side // chunk) + ((side % chunk,) if side % chunk else ())


def hex_spots(side: int, n_spots: int, microns_per_pixel: float) -> np.ndarray:
    """Centres (pixels) of a square patch of a hexagonal grid (100 µm spacing), centred on a ``side`` px slide."""
    spacing = SPOT_SPACING_UM / microns_per_pixel
    n_cols = int(np.sqrt(n_spots * np.sqrt(3) / 2))  # about as tall as wide
    rows, cols = np.divmod(np.arange(n_spots), n_cols)
    xy = np.column_stack([cols * spacing + (rows % 2) * spacing / 2, rows * spacing * np.sqrt(3) / 2])
    return xy - xy.mean(axis=0) + side / 2


def side_for(n_spots: int, microns_per_pixel: float, margin_um: float = 1000.0) -> int:
    """Slide side in pixels that holds ``n_spots`` on the grid with a margin on every side."""
    patch_um = np.sqrt(n_spots * SPOT_SPACING_UM**2 * np.sqrt(3) / 2) * 1.05
    return int(np.ceil((patch_um + 2 * margin_um) / microns_per_pixel))


def slide_sdata(n_spots: int, *, microns_per_pixel: float = 0.5, side: int | None = None):
    """SpatialData with one lazy image ``"slide"`` and the circles ``"spots"`` (no table): a slide to predict on."""
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, ShapesModel

    side = side_for(n_spots, microns_per_pixel) if side is None else side
    xy = hex_spots(side, n_spots, microns_per_pixel)
    radius = np.full(len(xy), SPOT_DIAMETER_UM / 2 / microns_per_pixel)
    return SpatialData(
        images={"slide": Image2DModel.parse(lazy_slide(side), dims=("c", "y", "x"))},
        shapes={"spots": ShapesModel.parse(xy, geometry=0, radius=radius)},
    )


def bins_sdata(
    n_bins: int,
    *,
    bin_um: int = 8,
    microns_per_pixel: float = 0.5,
    geometry: str = "circles",
    margin_um: float = 200.0,
    dataset_id: str = "hd",
):
    """A Visium HD-like slide to predict on: a lazy image and ``n_bins`` bins named as ``spatialdata_io.visium_hd``.

    The bins (``"{id}_square_{bin:03}um"``, a square patch of the lattice, in full-resolution pixels) and the image
    (``"{id}_full_image"``) map to the coordinate system ``id`` with the identity, as the reader writes them; the
    bin width comes from the name. ``geometry="squares"`` gives ``bins_as_squares=True``'s polygons, ``"circles"``
    its circles (lighter to hold for a million bins).
    """
    import geopandas as gpd
    import shapely
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, ShapesModel
    from spatialdata.transformations import Identity

    n_side = int(np.ceil(np.sqrt(n_bins)))
    bin_px = bin_um / microns_per_pixel
    margin_px = margin_um / microns_per_pixel
    side = int(np.ceil(n_side * bin_px + 2 * margin_px))
    rows, cols = np.divmod(np.arange(n_bins), n_side)
    xy = np.column_stack([margin_px + (cols + 0.5) * bin_px, margin_px + (rows + 0.5) * bin_px])
    system = {dataset_id: Identity()}
    if geometry == "squares":
        half = bin_px / 2
        squares = shapely.box(xy[:, 0] - half, xy[:, 1] - half, xy[:, 0] + half, xy[:, 1] + half)
        shapes = ShapesModel.parse(gpd.GeoDataFrame(geometry=squares), transformations=system)
    else:
        shapes = ShapesModel.parse(xy, geometry=0, radius=np.full(n_bins, bin_px / 2), transformations=system)
    return SpatialData(
        images={
            f"{dataset_id}_full_image": Image2DModel.parse(
                lazy_slide(side), dims=("c", "y", "x"), transformations=system
            )
        },
        shapes={f"{dataset_id}_square_{bin_um:03}um": shapes},
    )
