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
