"""Section resolution: image choice, transformations into image pixels, physical scale, multiscale images."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst.data import detect_grid, extract_crops, prepare_spots


def test_toy_sections_resolve_at_physical_scale(toy_sdata, toy_spots):
    table = toy_sdata.tables["table"]
    assert [s.spots_key for s in toy_spots.sections] == ["S1_spots", "S2_spots"]
    for section in toy_spots.sections:
        assert section.image_key == section.spots_key.replace("spots", "image")
        assert section.grid == "hexagonal"
        assert section.microns_per_pixel == pytest.approx(2.0)  # toy default, derived from the 100 µm spacing
        assert section.spot_diameter_um == pytest.approx(55.0)
        assert section.spot_spacing_um == pytest.approx(100.0)
        assert section.crop_um("spot") == pytest.approx(112.0)
        assert section.crop_um("niche") == pytest.approx(255.0)
        assert section.crop_px("niche") == pytest.approx(127.5)
        np.testing.assert_allclose(section.centres_px, table.obsm["spatial"][section.obs_indices])
    assert toy_spots.n_spots == table.n_obs
    assert sorted(toy_spots.obs_indices.tolist()) == list(range(table.n_obs))
    np.testing.assert_array_equal(toy_spots.counts, table.X.toarray()[toy_spots.obs_indices])
    assert toy_spots.in_bounds.all() and toy_spots.trainable.all()
    with pytest.raises(ValueError, match="kind"):
        toy_spots.sections[0].crop_um("cell")


def test_transformations_are_composed(builders):
    """Spots in µm (identity), image with scale + translation: centres land on the right image pixels."""
    from spatialdata.transformations import Scale, Sequence, Translation

    xy_px = builders["lattice"]("hexagonal", 6, 25.0, 60.0)  # 25 px spacing at 4 µm/px -> 100 µm
    image = builders["gradient_image"](260, 260)
    pixel_to_um = Sequence([Scale([4.0, 4.0], axes=("x", "y")), Translation([1000.0, -500.0], axes=("x", "y"))])
    xy_um = xy_px * 4.0 + np.array([1000.0, -500.0])
    sdata = builders["build_sdata"](image, xy_um, radius=27.5 * 4, image_transform=pixel_to_um)
    spots = prepare_spots(sdata, check_tissue=False)
    section = spots.sections[0]
    np.testing.assert_allclose(section.centres_px, xy_px, atol=1e-6)
    assert section.microns_per_pixel == pytest.approx(4.0)
    assert section.coordinate_system == "global"


def test_explicit_image_key_and_finest_image(tiny_sdata):
    """Two images of one slide in one coordinate system: the finer is chosen; a mapping or str overrides."""
    import spatialdata as sd
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import Scale

    sdata = sd.deepcopy(tiny_sdata)
    full = np.asarray(sdata.images["S1_image"])
    coarse = full[:, ::2, ::2]
    sdata.images["S1_lowres"] = Image2DModel.parse(
        coarse, dims=("c", "y", "x"), transformations={"S1": Scale([4.0, 4.0], axes=("y", "x"))}
    )
    auto = prepare_spots(sdata).sections[0]
    assert auto.image_key == "S1_image" and auto.microns_per_pixel == pytest.approx(2.0)
    low = prepare_spots(sdata, image_key={"S1_spots": "S1_lowres"}).sections[0]
    assert low.image_key == "S1_lowres" and low.microns_per_pixel == pytest.approx(4.0, rel=1e-3)
    np.testing.assert_allclose(low.centres_px * 2, auto.centres_px, atol=1.0)
    assert prepare_spots(sdata, image_key="S1_lowres").sections[0].image_key == "S1_lowres"
    with pytest.raises(KeyError, match="not used"):
        prepare_spots(sdata, image_key={"S9_spots": "S1_lowres"})


def test_multiscale_reads_coarser_level_for_small_outputs(tiny_sdata):
    import spatialdata as sd
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import get_transformation

    from hyperst.data._image import choose_level, image_levels

    sdata = sd.deepcopy(tiny_sdata)
    single = sdata.images["S1_image"]
    sdata.images["S1_image"] = Image2DModel.parse(
        np.asarray(single),
        dims=("c", "y", "x"),
        scale_factors=[2, 2],
        transformations=get_transformation(single, get_all=True),
    )
    levels = image_levels(sdata.images["S1_image"], "S1_image")
    assert [level.downscale[0] for level in levels] == pytest.approx([1.0, 2.0, 4.0], rel=0.01)
    spots_multi = prepare_spots(sdata)
    section = spots_multi.sections[0]
    assert choose_level(levels, section.crop_px("niche"), 16) is levels[2]  # 127.5 px -> 16 px: level 2
    assert choose_level(levels, section.crop_px("spot"), 64) is levels[0]  # 56 px -> 64 px: full res
    spots_single = prepare_spots(tiny_sdata)
    rows = np.arange(0, 40, 7)
    multi = extract_crops(spots_multi, rows, kind="niche", size=16).astype(float)
    single_crops = extract_crops(spots_single, rows, kind="niche", size=16).astype(float)
    assert np.abs(multi.mean(axis=(2, 3)) - single_crops.mean(axis=(2, 3))).max() < 6  # same place, same colour
    assert np.corrcoef(multi.ravel(), single_crops.ravel())[0, 1] > 0.8


def test_generic_layout_needs_a_scale(builders):
    rng = np.random.default_rng(1)
    xy = rng.uniform(40, 210, (30, 2))
    sdata = builders["build_sdata"](builders["gradient_image"](250, 250), xy, radius=5.0)
    with pytest.raises(ValueError, match="microns_per_pixel"):
        prepare_spots(sdata, check_tissue=False)
    by_pixel = prepare_spots(sdata, microns_per_pixel=0.5, spot_diameter_um=20.0, check_tissue=False).sections[0]
    assert by_pixel.grid == "generic" and by_pixel.microns_per_pixel == 0.5 and by_pixel.spot_diameter_um == 20.0
    by_diameter = prepare_spots(sdata, spot_diameter_um=20.0, check_tissue=False).sections[0]
    assert by_diameter.microns_per_pixel == pytest.approx(2.0)  # 20 µm over a 10 px circle
    assert by_diameter.spot_spacing_um == pytest.approx(detect_grid(xy).spacing * 2.0)


@pytest.mark.parametrize(("kind", "n_close"), [("hexagonal", 6), ("square", 4)])
def test_detect_grid(builders, kind, n_close):
    rng = np.random.default_rng(0)
    xy = builders["lattice"](kind, 12, 100.0, 0.0)
    jittered = xy + rng.normal(0, 4.0, xy.shape)  # legacy ST spot positions jitter by a few %
    for points in (xy, jittered):
        grid = detect_grid(points)
        assert grid.kind == kind
        assert grid.spacing == pytest.approx(100.0, rel=0.03)
    assert detect_grid(rng.uniform(0, 1000, (200, 2))).kind == "generic"
    assert detect_grid(xy[:5]).kind == "generic"
    with pytest.raises(ValueError, match="at least 2 spots"):
        detect_grid(xy[:1])
    with pytest.raises(ValueError, match="coincide"):
        detect_grid(np.zeros((4, 2)))
