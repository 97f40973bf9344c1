"""Fixtures of the data-layer tests: a tiny toy slide, its resolved spots, and a builder for hand-made slides."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_sdata():
    """One small toy section (hexagonal Visium-like grid, 2 µm/px); tests that modify it deep-copy it first."""
    import hyperst as hst

    return hst.datasets.toy(n_sections=1, n_spots=40, n_genes=8, seed=0)


@pytest.fixture(scope="session")
def toy_spots(toy_sdata):
    """The session toy slide resolved into spots."""
    from hyperst.data import prepare_spots

    return prepare_spots(toy_sdata)


def _lattice(kind: str, n_side: int, spacing: float, origin: float) -> np.ndarray:
    rows, cols = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    if kind == "square":
        x, y = cols * spacing, rows * spacing
    else:  # hexagonal: odd rows shifted by half a spacing, rows sqrt(3)/2 apart
        x, y = cols * spacing + (rows % 2) * spacing / 2, rows * spacing * np.sqrt(3) / 2
    return np.column_stack([x.ravel(), y.ravel()]) + origin


def build_sdata(
    image: np.ndarray,
    xy: np.ndarray,
    *,
    radius: float | None = 10.0,
    counts: np.ndarray | None = None,
    genes: list[str] | None = None,
    image_transform=None,
    shapes_transform=None,
    scale_factors=None,
):
    """A one-section SpatialData: image ``(c, y, x)``, circles at ``xy`` (pixels), a counts table."""
    import anndata as ad
    import pandas as pd
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, ShapesModel, TableModel
    from spatialdata.transformations import Identity

    n = len(xy)
    counts = np.random.default_rng(0).poisson(3.0, (n, 5)).astype(np.float32) if counts is None else counts
    genes = genes or [f"G{i}" for i in range(counts.shape[1])]
    image_el = Image2DModel.parse(
        image,
        dims=("c", "y", "x"),
        transformations={"global": image_transform or Identity()},
        scale_factors=scale_factors,
        chunks=(image.shape[0], 128, 128),
    )
    kwargs = {} if radius is None else {"radius": np.full(n, radius)}
    shapes = ShapesModel.parse(
        np.asarray(xy, dtype=float),
        geometry=0,
        index=pd.RangeIndex(n),
        transformations={"global": shapes_transform or Identity()},
        **kwargs,
    )
    obs = pd.DataFrame(
        {"region": pd.Categorical(["spots"] * n), "spot_id": np.arange(n), "section": "A", "patient": "P"},
        index=[f"s{i}" for i in range(n)],
    )
    table = ad.AnnData(X=counts, obs=obs, var=pd.DataFrame(index=genes))
    table = TableModel.parse(table, region="spots", region_key="region", instance_key="spot_id")
    return SpatialData(images={"image": image_el}, shapes={"spots": shapes}, tables={"table": table})


def gradient_image(height: int, width: int) -> np.ndarray:
    """uint8 RGB image whose red channel is x / 4 and green channel y / 4 (position readable from pixels)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([x / 4, y / 4, np.full_like(x, 128)]).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def builders():
    """Helpers to build hand-made slides: ``build_sdata``, ``lattice``, ``gradient_image``."""
    return {"build_sdata": build_sdata, "lattice": _lattice, "gradient_image": gradient_image}


def visium_hd_like(
    bin_um: int = 16,
    *,
    n_side: int = 24,
    mpp: float = 1.0,
    geometry: str = "squares",
    name: str | None = None,
    dataset_id: str = "hd",
    seed: int = 0,
):
    """A Visium HD-like slide laid out as ``spatialdata_io.visium_hd`` lays it out, for one bin size.

    Elements as the reader names them: the full-resolution image ``"{id}_full_image"`` (a pyramid, identity to the
    coordinate system ``id``), the ``hires`` image (``Scale`` to ``id``, identity to ``"{id}_downscaled_hires"``),
    the bins ``"{id}_square_{bin:03}um"`` in full-resolution pixels (``geometry="squares"`` from
    ``circles.buffer(r, cap_style=3)`` as with ``bins_as_squares=True``, or ``"circles"``) and the table ``"square_{bin:03}um"`` (``region`` / ``location_id``, ``array_row``,
    ``array_col``, ``obsm["spatial"]``). The image is the toy slide's H&E at ``mpp`` µm/px; counts follow it.
    """
    import anndata as ad
    import geopandas as gpd
    import pandas as pd
    from scipy import sparse
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, ShapesModel, TableModel
    from spatialdata.transformations import Identity, Scale

    import hyperst as hst

    toy = hst.datasets.toy(n_sections=1, n_spots=40, n_genes=4, seed=seed, microns_per_pixel=mpp)
    image = np.asarray(toy.images["S1_image"].data)
    height, width = image.shape[1:]
    bin_px = bin_um / mpp
    rows, cols = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    x0, y0 = (width - n_side * bin_px) / 2, (height - n_side * bin_px) / 2
    xy = np.column_stack([x0 + (cols.ravel() + 0.5) * bin_px, y0 + (rows.ravel() + 0.5) * bin_px])
    # counts: 12 genes driven by how dark (nuclear) the H&E is under each bin
    rng = np.random.default_rng(seed)
    darkness = np.array([255 - image[:, int(y), int(x)].mean() for x, y in xy]) / 255
    loadings = rng.normal(0, 2, 12)
    counts = rng.poisson(np.exp(0.5 + np.outer(darkness, loadings))).astype(np.float32)

    bins = name or f"{dataset_id}_square_{bin_um:03}um"
    hires_scalef = 0.25
    systems = {dataset_id: Identity(), f"{dataset_id}_downscaled_hires": Scale([hires_scalef] * 2, axes=("x", "y"))}
    full = Image2DModel.parse(
        image, dims=("c", "y", "x"), scale_factors=[2], transformations={dataset_id: Identity()}, chunks=(3, 256, 256)
    )
    hires = Image2DModel.parse(
        image[:, ::4, ::4],
        dims=("c", "y", "x"),
        transformations={
            f"{dataset_id}_downscaled_hires": Identity(),
            dataset_id: Scale([1 / hires_scalef] * 2, axes=("x", "y")),
        },
    )
    index = pd.Index(np.arange(len(xy)))
    circles = ShapesModel.parse(
        xy, geometry=0, radius=np.full(len(xy), bin_px / 2), index=index, transformations=systems
    )
    if geometry == "squares":
        shapes = ShapesModel.parse(
            gpd.GeoDataFrame(geometry=circles.buffer(bin_px / 2, cap_style=3)), transformations=systems
        )
    else:  # bins_as_squares=False: circles as wide as the bin
        shapes = circles
    obs = pd.DataFrame(
        {
            "in_tissue": 1,
            "array_row": rows.ravel(),
            "array_col": cols.ravel(),
            "location_id": np.arange(len(xy)),
            "region": pd.Categorical([bins] * len(xy)),
        },
        index=[f"s_{bin_um:03}um_{r:05d}_{c:05d}-1" for r, c in zip(rows.ravel(), cols.ravel(), strict=True)],
    )
    table = ad.AnnData(X=sparse.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(12)]))
    table.obsm["spatial"] = xy
    table = TableModel.parse(table, region=bins, region_key="region", instance_key="location_id")
    return SpatialData(
        images={f"{dataset_id}_full_image": full, f"{dataset_id}_hires_image": hires},
        shapes={bins: shapes},
        tables={f"square_{bin_um:03}um": table},
    )


@pytest.fixture(scope="session")
def hd_builder():
    """``visium_hd_like(bin_um, ...)``: a Visium HD-like slide as spatialdata_io lays it out."""
    return visium_hd_like
