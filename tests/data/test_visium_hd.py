"""Visium HD bins (as ``spatialdata_io.visium_hd`` lays them out): pixel size, crops and niches at bin scale."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import spatialdata

import hyperst as hst
from hyperst.data import prepare_spots


@pytest.mark.parametrize("geometry", ["squares", "circles"])
def test_bins_get_their_pixel_size_from_the_bin_width(hd_builder, geometry):
    sdata = hd_builder(16, geometry=geometry, mpp=1.0)
    section = prepare_spots(sdata, table_key="square_016um").sections[0]
    assert section.grid == "bins"  # not legacy ST, whose square lattice would mean 200 µm spacing
    assert section.image_key == "hd_full_image"  # the finest of the images sharing the coordinate system
    assert section.microns_per_pixel == pytest.approx(1.0)
    assert section.spot_diameter_um == pytest.approx(16.0)
    assert section.spot_spacing_um == pytest.approx(16.0)


@pytest.mark.parametrize(
    ("bin_um", "spot_crop", "niche_crop", "neighbours"),
    [(2, 16.0, 57.0, 592), (8, 24.0, 63.0, 36), (16, 48.0, 71.0, 8)],
)
def test_crops_and_niches_at_bin_scale(hd_builder, bin_um, spot_crop, niche_crop, neighbours):
    sdata = hd_builder(bin_um, n_side=40, mpp=0.5)
    spots = prepare_spots(sdata, table_key=f"square_{bin_um:03}um")
    section = spots.sections[0]
    assert section.microns_per_pixel == pytest.approx(0.5)
    assert section.crop_um("spot") == pytest.approx(spot_crop)
    assert section.crop_um("niche") == pytest.approx(niche_crop)
    # an interior bin's niche: every bin whose centre lies in the 55 µm disk around it (its own ring at 16 µm)
    offsets = np.arange(-40, 41)
    distance = bin_um * np.hypot(*np.meshgrid(offsets, offsets))
    radius = max(27.5, 1.7 * bin_um)
    assert ((distance > 0) & (distance <= radius)).sum() == neighbours
    assert spots.neighbours.sum(axis=1).max() == neighbours


def test_a_stated_pixel_size_or_width_overrides_the_name(hd_builder, caplog):
    sdata = hd_builder(16, mpp=1.0)
    section = prepare_spots(sdata, table_key="square_016um", microns_per_pixel=0.5).sections[0]
    assert (section.microns_per_pixel, section.spot_diameter_um) == (0.5, 16.0)
    assert "16 µm wide" in caplog.text  # 8 µm apart at 0.5 µm/px contradicts the name: said, not hidden
    section = prepare_spots(sdata, table_key="square_016um", spot_diameter_um=32.0).sections[0]
    assert section.microns_per_pixel == pytest.approx(2.0)


def test_bins_without_size_information_raise(hd_builder):
    sdata = hd_builder(16, name="hd_bins")
    before = spatialdata.deepcopy(sdata)
    with pytest.raises(ValueError, match=r"Visium HD bins.*no `square_NNNum`.*`microns_per_pixel=`"):
        prepare_spots(sdata, table_key="square_016um")
    assert sdata.tables["square_016um"].obs.equals(before.tables["square_016um"].obs)
    assert set(sdata.shapes) == set(before.shapes) and set(sdata.tables) == set(before.tables)
    assert prepare_spots(sdata, table_key="square_016um", microns_per_pixel=1.0).sections[0].grid == "bins"


def test_legacy_st_spots_stay_legacy_st(hd_builder):
    # the same square lattice with spots half a spacing wide (legacy ST's 100 µm spots, 200 µm apart)
    sdata = hd_builder(16, geometry="circles", name="st_spots")
    sdata.shapes["st_spots"]["radius"] = 4.0
    section = prepare_spots(sdata, table_key="square_016um").sections[0]
    assert section.grid == "square"
    assert section.spot_spacing_um == pytest.approx(200.0)


def test_fit_and_predict_on_bins(hd_builder, fast_fit_kwargs, caplog):
    sdata = hd_builder(16, geometry="squares", mpp=1.0)
    assert "section" not in sdata.tables["square_016um"].obs  # as spatialdata_io writes the table
    with caplog.at_level(logging.INFO, logger="hyperst"):
        model = hst.tl.fit(sdata, table_key="square_016um", max_epochs=1, **fast_fit_kwargs)
    assert "validation groups are the spots elements (hd_square_016um)" in caplog.text
    assert "section" not in sdata.tables["square_016um"].obs  # the user's table is not changed
    hst.tl.predict(sdata, model, table_key="square_016um")
    out = sdata.tables["hyperst"]
    assert out.n_obs == 576 and np.isfinite(out.layers["predicted"]).all()
    assert list(out.uns["spatialdata_attrs"]["region"]) == ["hd_square_016um"]
    record = out.uns["hyperst"]["sections"]["hd_square_016um"]
    assert (record["grid"], record["spot_crop_um"], record["niche_crop_um"]) == ("bins", 48.0, 71.0)


def test_prediction_without_counts_builds_no_niche_graph(hd_builder):
    # a million 8 µm bins would hold a 36-million-edge graph that prediction from images never reads
    sdata = hd_builder(8, n_side=40, mpp=0.5)
    spots = prepare_spots(sdata, table_key=None, spots_key="hd_square_008um")
    assert spots._neighbours is None
    assert spots.neighbours.sum(axis=1).max() == 36  # built on first use, then kept
    assert spots.neighbours is spots._neighbours
