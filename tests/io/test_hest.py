"""``hst.io.read_hest``: a fake HEST-1k folder read lazily, trained on and predicted, and its bad inputs."""

from __future__ import annotations

import json
import logging
import shutil

import anndata
import numpy as np
import pytest
import spatialdata
from xarray import DataTree

import hyperst as hst
from hyperst.data import prepare_spots


def test_layout_matches_the_package(hest_dir, toy_sdata):
    sdata = hst.io.read_hest(hest_dir)
    assert set(sdata.images) == {"TOY1_image", "TOY2_image"}
    assert set(sdata.shapes) == {"TOY1_spots", "TOY2_spots"}
    table = sdata.tables["table"]
    attrs = table.uns["spatialdata_attrs"]
    assert (attrs["region_key"], attrs["instance_key"]) == ("region", "spot_id")
    assert sorted(attrs["region"]) == ["TOY1_spots", "TOY2_spots"]
    assert table.obs["section"].astype(str).tolist() == ["TOY1"] * 120 + ["TOY2"] * 120
    assert set(table.obs["patient"].astype(str)) == {"patient_S1", "patient_S2"}
    assert table.obs.groupby("section", observed=True)["organ"].first().astype(str).to_dict() == {
        "TOY1": "Breast",
        "TOY2": "Bowel",
    }
    assert set(table.obs["technology"].astype(str)) == {"Visium"}
    np.testing.assert_array_equal(table.X.toarray(), toy_sdata.tables["table"].X.toarray())
    assert table.uns["hyperst_microns_per_pixel"] == {"TOY1_spots": 2.0, "TOY2_spots": 2.0}
    # the slide is the TIFF's pyramid, lazily read, mapped to µm; spots are 55 µm circles in pixels
    image = sdata.images["TOY1_image"]
    assert isinstance(image, DataTree) and len(image.children) == 3
    level0 = image["scale0"]["image"]
    assert type(level0.data).__name__ == "Array"  # dask: nothing decoded yet
    np.testing.assert_array_equal(level0.data[:, :50, :50].compute(), toy_sdata.images["S1_image"].data[:, :50, :50])
    radius = sdata.shapes["TOY1_spots"]["radius"].to_numpy()
    np.testing.assert_allclose(radius, 55 / 2 / 2.0)
    spots = prepare_spots(sdata, check_tissue=True)
    section = spots.sections[0]
    assert section.image_key == "TOY1_image" and section.grid == "hexagonal"
    assert section.microns_per_pixel == pytest.approx(2.0)
    assert section.spot_diameter_um == pytest.approx(55.0)


def test_fit_and_predict_end_to_end(hest_dir, fast_fit_kwargs):
    sdata = hst.io.read_hest(hest_dir, ids=["TOY1", "TOY2"])
    hst.pp.select_genes(sdata, n_genes=20, method="hvg")
    model = hst.tl.fit(sdata, max_epochs=1, **fast_fit_kwargs)
    hst.tl.predict(sdata, model)
    out = sdata.tables["hyperst"]
    assert out.n_obs == 240 and out.n_vars == 20
    assert np.isfinite(out.layers["predicted"]).all()


def test_round_trips_through_zarr(hest_dir, tmp_path):
    sdata = hst.io.read_hest(hest_dir, ids="TOY1")
    sdata.write(tmp_path / "hest.zarr")
    back = spatialdata.read_zarr(tmp_path / "hest.zarr")
    assert back.tables["table"].uns["hyperst_microns_per_pixel"] == {"TOY1_spots": 2.0}
    assert prepare_spots(back).sections[0].microns_per_pixel == pytest.approx(2.0)


def test_stated_pixel_size_wins_over_the_lattice(tmp_path, toy_sdata, hest_writer):
    # the slide's pixels are 2 µm, but HEST says 1 µm: the spots are then 50 µm apart (not Visium's spacing), the
    # stated size is used and the spot diameter comes from the circles (55 µm / 1 µm per px = 27.5 px radius)
    hest_writer(tmp_path, "TOY1", toy_sdata, "S1", pixel_size_um_estimated=1.0)
    section = prepare_spots(hst.io.read_hest(tmp_path)).sections[0]
    assert section.microns_per_pixel == pytest.approx(1.0)
    assert section.spot_spacing_um == pytest.approx(50.0, rel=0.01)
    assert section.spot_diameter_um == pytest.approx(55.0)


def test_missing_optional_folders_and_a_flat_tiff(tmp_path, toy_sdata, hest_writer, caplog):
    hest_writer(tmp_path, "FLAT", toy_sdata, "S1", pyramid=False)
    assert not (tmp_path / "tissue_seg").exists()
    with caplog.at_level(logging.INFO, logger="hyperst"):
        sdata = hst.io.read_hest(tmp_path)
    assert "has no pyramid" in caplog.text
    assert not isinstance(sdata.images["FLAT_image"], DataTree)
    assert prepare_spots(sdata).sections[0].microns_per_pixel == pytest.approx(2.0)


def test_duplicates_are_named(tmp_path, toy_sdata, hest_writer, caplog):
    hest_writer(tmp_path, "A", toy_sdata, "S1")
    for folder, suffix in (("st", ".h5ad"), ("wsis", ".tif"), ("metadata", ".json")):
        shutil.copy(tmp_path / folder / f"A{suffix}", tmp_path / folder / f"B{suffix}")
    hest_writer(tmp_path, "C", toy_sdata, "S2")
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        hst.io.read_hest(tmp_path)
    assert "['A', 'B'] have byte-identical st/ files" in caplog.text
    assert "'C'" not in caplog.text


def test_one_section_under_two_names(tmp_path, toy_sdata, hest_writer, caplog):
    # same counts and slide, re-encoded (different bytes): caught by patient, slide size, spots and total count
    hest_writer(tmp_path, "GEO1", toy_sdata, "S1")
    hest_writer(tmp_path, "TENX1", toy_sdata, "S1", pyramid=False, organ="breast")
    counts = anndata.read_h5ad(tmp_path / "st" / "TENX1.h5ad")
    counts.obs_names = "10x_" + counts.obs_names
    counts.write_h5ad(tmp_path / "st" / "TENX1.h5ad")
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        hst.io.read_hest(tmp_path)
    assert "['GEO1', 'TENX1'] look like one section" in caplog.text


def test_bad_folders_and_ids(tmp_path, hest_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hst.io.read_hest(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no `st/` folder"):
        hst.io.read_hest(tmp_path)
    with pytest.raises(KeyError, match=r"\['NOPE'\] are not in"):
        hst.io.read_hest(hest_dir, ids=["TOY1", "NOPE"])
    with pytest.raises(ValueError, match="distinct"):
        hst.io.read_hest(hest_dir, ids=["TOY1", "TOY1"])
    with pytest.raises(ValueError, match="`join`"):
        hst.io.read_hest(hest_dir, join="outer")


def test_missing_metadata_or_slide(tmp_path, toy_sdata, hest_writer):
    hest_writer(tmp_path, "TOY1", toy_sdata, "S1")
    (tmp_path / "metadata" / "TOY1.json").rename(tmp_path / "TOY1.json")
    with pytest.raises(FileNotFoundError, match="no metadata file"):
        hst.io.read_hest(tmp_path, ids=["TOY1"])
    meta = json.loads((tmp_path / "TOY1.json").read_text())
    (tmp_path / "metadata" / "TOY1.json").write_text(json.dumps(meta | {"pixel_size_um_estimated": None}))
    with pytest.raises(ValueError, match="positive number 'pixel_size_um_estimated'"):
        hst.io.read_hest(tmp_path)
    (tmp_path / "metadata" / "TOY1.json").write_text(json.dumps(meta))
    (tmp_path / "wsis" / "TOY1.tif").unlink()
    with pytest.raises(FileNotFoundError, match="has no slide"):
        hst.io.read_hest(tmp_path)


def test_io_all_matches_lazy_imports():
    import hyperst.io

    assert set(hyperst.io.__all__) == set(hyperst.io._LAZY_IMPORTS)
