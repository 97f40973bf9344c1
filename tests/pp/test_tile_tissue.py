"""``hst.pp.tile_tissue``: a Visium-like spot grid over detected tissue that the data layer resolves at its scale."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.spatial import cKDTree

import hyperst as hst

IMAGE = "S1_image"
TILES = f"{IMAGE}_tiles"
MPP = 2.0  # the toy slide's µm per pixel


@pytest.fixture(scope="module")
def slide():
    """One toy section: a stained blob on bright glass, 2 µm/px, coordinate system "S1" in µm."""
    return hst.datasets.toy(n_sections=1, n_spots=80, n_genes=8, seed=0)


@pytest.fixture(scope="module")
def tiled(slide):
    """The slide with the default grid written in place."""
    from spatialdata import deepcopy

    sdata = deepcopy(slide)
    assert hst.pp.tile_tissue(sdata, IMAGE) is None
    return sdata


def _tissue_mask(sdata) -> np.ndarray:
    """Pixel-level tissue mask of the toy image, with the data layer's criterion."""
    from hyperst.data import tissue_fraction

    rgb = np.asarray(sdata.images[IMAGE].values)
    return tissue_fraction(rgb.reshape(3, -1).T[:, :, None, None]).reshape(rgb.shape[1:]) > 0


def _in_system(sdata, key: str, system: str = "S1") -> tuple[np.ndarray, np.ndarray]:
    """Spot centres and radii in a coordinate system."""
    from spatialdata.transformations import get_transformation

    shapes = sdata.shapes[key]
    matrix = get_transformation(shapes, to_coordinate_system=system).to_affine_matrix(("x", "y"), ("x", "y"))
    xy = np.column_stack([shapes.geometry.x, shapes.geometry.y])
    scale = np.sqrt(abs(np.linalg.det(matrix[:2, :2])))
    return xy @ matrix[:2, :2].T + matrix[:2, 2], shapes["radius"].to_numpy() * scale


def _snapshot(sdata) -> dict[str, list[str]]:
    return {kind: sorted(getattr(sdata, kind)) for kind in ("images", "labels", "points", "shapes", "tables")}


def test_spots_cover_the_tissue(slide, tiled):
    shapes = tiled.shapes[TILES]
    assert {"radius", "tissue_fraction"} <= set(shapes.columns)
    assert set(shapes.geometry.geom_type) == {"Point"}
    assert (shapes["tissue_fraction"] >= 0.5).all() and (shapes["tissue_fraction"] <= 1).all()

    # every centre lies on stained tissue; none near the bright glass corners
    mask = _tissue_mask(slide)
    height, width = mask.shape
    x, y = shapes.geometry.x.to_numpy(), shapes.geometry.y.to_numpy()
    rows, cols = np.clip(y.astype(int), 0, height - 1), np.clip(x.astype(int), 0, width - 1)
    assert mask[rows, cols].mean() > 0.95
    corner = min(height, width) * 0.1
    near_corner = ((x < corner) | (x > width - corner)) & ((y < corner) | (y > height - corner))
    assert not near_corner.any()

    # about one spot per hexagonal cell of tissue
    tissue_um2 = mask.sum() * MPP**2
    expected = tissue_um2 / (100.0**2 * np.sqrt(3) / 2)
    assert 0.8 * expected <= len(shapes) <= 1.2 * expected


def test_geometry_in_the_micrometre_system(slide, tiled):
    from spatialdata.transformations import get_transformation

    assert set(get_transformation(tiled.shapes[TILES], get_all=True)) == {"S1"}
    xy, radius = _in_system(tiled, TILES)
    np.testing.assert_allclose(radius, 27.5)
    distances, _ = cKDTree(xy).query(xy, k=7)
    np.testing.assert_allclose(distances[:, 1], 100.0, rtol=1e-6)
    interior = (np.abs(distances[:, 1:] - 100.0) < 1e-6).sum(axis=1) == 6
    assert interior.mean() > 0.3  # a hexagonal lattice: six neighbours at one spacing
    # nothing else in the object changed
    assert _snapshot(tiled) == {**_snapshot(slide), "shapes": sorted([*slide.shapes, TILES])}


def test_data_layer_resolves_the_grid(tiled):
    from hyperst.data import prepare_spots

    spots = prepare_spots(tiled, table_key=None, spots_key=TILES)
    section = spots.sections[0]
    assert section.image_key == IMAGE and section.coordinate_system == "S1"
    assert section.grid == "hexagonal"
    assert section.microns_per_pixel == pytest.approx(MPP, rel=1e-3)
    assert section.spot_diameter_um == pytest.approx(55.0)
    assert section.spot_spacing_um == pytest.approx(100.0, rel=1e-3)
    assert spots.n_spots == len(tiled.shapes[TILES])


def test_square_grid_and_return(slide):
    before = _snapshot(slide)
    shapes = hst.pp.tile_tissue(slide, IMAGE, grid="square", spacing_um=200, spot_diameter_um=100, inplace=False)
    assert _snapshot(slide) == before
    xy = np.column_stack([shapes.geometry.x, shapes.geometry.y]) * MPP
    distances, _ = cKDTree(xy).query(xy, k=2)
    np.testing.assert_allclose(distances[:, 1], 200.0, rtol=1e-6)
    np.testing.assert_allclose(shapes["radius"] * MPP, 50.0)
    assert 5 <= len(shapes) <= 40  # ~0.9 mm² of tissue / 0.04 mm² per cell

    from spatialdata import SpatialData

    from hyperst.data import prepare_spots

    sdata = SpatialData(images={IMAGE: slide.images[IMAGE]}, shapes={"st": shapes})
    section = prepare_spots(sdata, table_key=None, spots_key="st").sections[0]
    assert section.grid == "square" and section.microns_per_pixel == pytest.approx(MPP, rel=1e-3)
    assert section.spot_diameter_um == pytest.approx(100.0)


def test_other_spot_sizes_warn(slide, caplog):
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        hst.pp.tile_tissue(slide, IMAGE, spacing_um=150, inplace=False)
    assert "microns_per_pixel=2, spot_diameter_um=55" in caplog.text


def test_pixel_size_from_the_user(slide):
    """An image in pixel coordinates has no scale: `microns_per_pixel=` is required."""
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel

    pixels = Image2DModel.parse(slide.images[IMAGE].data, dims=("c", "y", "x"))  # identity to "global"
    sdata = SpatialData(images={"slide": pixels})
    with pytest.raises(ValueError, match="microns_per_pixel="):
        hst.pp.tile_tissue(sdata)
    assert list(sdata.shapes) == []

    shapes = hst.pp.tile_tissue(sdata, microns_per_pixel=MPP, inplace=False)
    np.testing.assert_allclose(shapes["radius"], 27.5 / MPP)
    hst.pp.tile_tissue(sdata, microns_per_pixel=MPP)
    assert "slide_tiles" in sdata.shapes
    from hyperst.data import prepare_spots

    section = prepare_spots(sdata, table_key=None, spots_key="slide_tiles").sections[0]
    assert section.microns_per_pixel == pytest.approx(MPP, rel=1e-3)


def test_multiscale_float_image_reads_a_coarse_level(slide):
    """A pyramid of a float [0, 1] image: same spots as the uint8 original, level-0 pixel coordinates."""
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import Scale

    data = slide.images[IMAGE].data.astype(np.float32) / 255
    pyramid = Image2DModel.parse(
        data, dims=("c", "y", "x"), scale_factors=[2, 2], transformations={"S1": Scale([MPP, MPP], axes=("y", "x"))}
    )
    shapes = hst.pp.tile_tissue(SpatialData(images={"slide": pyramid}), inplace=False)
    # tissue is detected on level 1 (4 µm/px, the coarsest finer than 55 / 8 µm), not on level 0
    from hyperst.data._image import image_levels
    from hyperst.pp._tissue_mask import tissue_mask

    mask, downscale = tissue_mask(image_levels(pyramid, "slide"), (0, 1, 2), MPP, 55.0)
    assert downscale == pytest.approx((2.0, 2.0), rel=0.01) and mask.shape == (345, 412)
    reference = hst.pp.tile_tissue(slide, IMAGE, inplace=False)
    assert abs(len(shapes) - len(reference)) <= 0.1 * len(reference)
    np.testing.assert_allclose(shapes["radius"], 27.5 / MPP)


def test_bad_inputs_leave_sdata_unchanged(slide, caplog):
    from spatialdata import SpatialData, deepcopy
    from spatialdata.models import Image2DModel

    sdata = deepcopy(slide)
    before = _snapshot(sdata)
    with pytest.raises(KeyError, match="not an image"):
        hst.pp.tile_tissue(sdata, "missing")
    with pytest.raises(KeyError, match="already names another element"):
        hst.pp.tile_tissue(sdata, IMAGE, spots_key_added=IMAGE)
    with pytest.raises(KeyError, match="coordinate system 'global'"):
        hst.pp.tile_tissue(sdata, IMAGE, coordinate_system="global")
    for bad in ({"grid": "triangular"}, {"spacing_um": 0}, {"min_tissue_fraction": 0}, {"microns_per_pixel": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            hst.pp.tile_tissue(sdata, IMAGE, **bad)
    assert _snapshot(sdata) == before

    hst.pp.tile_tissue(sdata, IMAGE, spots_key_added="grid")
    original = sdata.shapes["grid"]
    with pytest.raises(KeyError, match="overwrite=True"):
        hst.pp.tile_tissue(sdata, IMAGE, spots_key_added="grid", spacing_um=200)
    assert sdata.shapes["grid"] is original
    hst.pp.tile_tissue(sdata, IMAGE, spots_key_added="grid", spacing_um=200, overwrite=True)
    assert len(sdata.shapes["grid"]) < len(original)

    # a blank slide: no tissue, a clear error and nothing written
    blank = np.full((3, 200, 300), 245, dtype=np.uint8)
    empty = SpatialData(images={"blank": Image2DModel.parse(blank, dims=("c", "y", "x"))})
    with pytest.raises(ValueError, match="No tissue detected"):
        hst.pp.tile_tissue(empty, microns_per_pixel=1.0)
    assert list(empty.shapes) == []

    # several images and no `image_key`
    with pytest.raises(ValueError, match="pass `image_key=`"):
        hst.pp.tile_tissue(SpatialData(images={"a": empty.images["blank"], "b": slide.images[IMAGE]}))

    # `microns_per_pixel` disagreeing with the µm system is used, with a warning
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        shapes = hst.pp.tile_tissue(slide, IMAGE, microns_per_pixel=1.0, inplace=False)
    assert "microns_per_pixel=1" in caplog.text
    np.testing.assert_allclose(shapes["radius"], 27.5)


def test_tinted_glass_two_biopsies_and_debris():
    """Tinted, noisy glass (scanner white balance) is not tissue; a small biopsy next to a large one is kept, a
    speck is not. A fixed colour-saturation rule took the whole tinted glass for tissue."""
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel

    rng = np.random.default_rng(0)
    height, width = 600, 800
    rgb = np.empty((3, height, width), dtype=np.int16)
    rgb[:] = np.array([235, 228, 196])[:, None, None]  # yellowish glass
    yy, xx = np.ogrid[:height, :width]
    pieces = {"large": (300, 250, 200), "small": (300, 640, 60), "speck": (80, 700, 5)}  # y, x, radius in px
    for y, x, radius in pieces.values():
        rgb[:, (yy - y) ** 2 + (xx - x) ** 2 < radius**2] = np.array([200, 110, 170])[:, None]
    rgb = np.clip(rgb + rng.integers(-10, 11, rgb.shape), 0, 255).astype(np.uint8)  # channel noise of a scan
    sdata = SpatialData(images={"slide": Image2DModel.parse(rgb, dims=("c", "y", "x"))})

    shapes = hst.pp.tile_tissue(sdata, microns_per_pixel=MPP, inplace=False)
    xy = np.column_stack([shapes.geometry.x, shapes.geometry.y])
    where = {name: np.hypot(xy[:, 0] - x, xy[:, 1] - y) < radius for name, (y, x, radius) in pieces.items()}
    assert (where["large"] | where["small"]).all()  # nothing on the noisy glass
    assert where["small"].sum() >= 2 and not where["speck"].any()
    cell_px = (100.0 / MPP) ** 2 * np.sqrt(3) / 2  # hexagonal cell of 100 µm spacing, in px
    expected = np.pi * 200**2 / cell_px
    assert 0.75 * expected <= where["large"].sum() <= 1.1 * expected
