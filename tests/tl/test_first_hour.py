"""A new user's first mistakes (issue 23) get errors that name the problem and the fix, and outputs are shareable."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from spatialdata import deepcopy as sd_deepcopy

import hyperst as hst


@pytest.fixture
def sdata(toy_sdata):
    return sd_deepcopy(toy_sdata)


@pytest.mark.parametrize(
    "call",
    [
        lambda adata, model: hst.tl.fit(adata, max_epochs=1),
        lambda adata, model: hst.tl.predict(adata, model),
        lambda adata, model: hst.pp.tile_tissue(adata),
        lambda adata, model: hst.tl.cross_validate(adata),
        lambda adata, model: hst.tl.adapt(adata, model),
        lambda adata, model: hst.pl.spatial_genes(adata, "G000"),
    ],
    ids=["fit", "predict", "tile_tissue", "cross_validate", "adapt", "spatial_genes"],
)
def test_an_anndata_gets_the_way_to_spatialdata(call, toy_sdata, toy_model):
    adata = toy_sdata.tables["table"].copy()
    with pytest.raises(TypeError, match=r"SpatialData object.*spatialdata_io\.experimental\.from_legacy_anndata"):
        call(adata, toy_model)


def test_predict_names_the_model_it_needs(sdata, toy_model):
    with pytest.raises(TypeError, match=r"`hst\.HyperST` model.*got NoneType"):
        hst.tl.predict(sdata, None)
    with pytest.raises(TypeError, match=r"got HyperST\. The SpatialData object comes first"):
        hst.tl.predict(toy_model, sdata)
    assert "hyperst" not in sdata.tables


def test_a_stray_region_value_is_an_error_not_dropped_rows(sdata, fast_fit_kwargs):
    table = sdata.tables["table"]
    region = table.obs["region"].astype(str).to_numpy()
    region[:3] = "S1_spotz"  # a typo in three rows
    table.obs["region"] = pd.Categorical(region)
    with pytest.raises(ValueError, match=r"3 rows of table 'table'.*\['S1_spotz'\].*typo"):
        hst.tl.fit(sdata, max_epochs=1, **fast_fit_kwargs)


def test_points_are_not_spots(sdata, toy_model):
    from spatialdata.models import PointsModel
    from spatialdata.transformations import get_transformation

    circles = sdata.shapes["S1_spots"]
    xy = np.column_stack([circles.geometry.x, circles.geometry.y])
    sdata.points["S1_pts"] = PointsModel.parse(xy, transformations=get_transformation(circles, get_all=True))
    with pytest.raises(TypeError, match=r"'S1_pts' is a points element.*spatialdata\.to_circles"):
        hst.tl.predict(sdata, toy_model, table_key=None, spots_key="S1_pts")


def test_normalised_x_points_to_the_counts_in_raw(sdata, fast_fit_kwargs):
    table = sdata.tables["table"]
    table.raw = table.copy()  # scanpy's habit: counts kept in .raw, X normalised and logged
    table.X = np.log1p(np.asarray(table.X.todense() if hasattr(table.X, "todense") else table.X) / 3.0)
    with pytest.raises(ValueError, match=r"not integers.*keeps `\.raw`.*layer='counts'"):
        hst.tl.fit(sdata, max_epochs=1, genes=list(table.var_names[:5]), **fast_fit_kwargs)
    with pytest.raises(ValueError, match=r"keeps `\.raw`"):
        hst.pp.select_genes(sdata, n_genes=5)


def test_predictions_are_never_negative(sdata, toy_model):
    """The network's output is unbounded; expression is not: predictions are clipped at 0 (not training)."""
    model = copy.deepcopy(toy_model)
    for member in model.members:
        member.head.decoder[-1].bias.data -= 100.0  # drives every raw output far below zero
    table = hst.tl.predict(sdata, model, inplace=False)
    assert np.all(table.layers["predicted"] == 0) and np.all(table.X == 0)
    assert (toy_model.predict(hst.data.prepare_spots(sdata, with_counts=False))["predicted"] >= 0).all()


def test_the_output_table_writes_to_h5ad_and_zarr(sdata, toy_ensemble, tmp_path):
    import anndata as ad

    hst.tl.predict(sdata, toy_ensemble)
    hst.tl.evaluate(sdata, groupby="section")
    table = sdata.tables["hyperst"]
    assert toy_ensemble.n_models > 1 and "members" in table.uns["hyperst"]["training"]
    table.write_h5ad(tmp_path / "hyperst.h5ad")
    table.write_zarr(tmp_path / "hyperst.zarr")
    for read in (ad.read_h5ad(tmp_path / "hyperst.h5ad"), ad.read_zarr(tmp_path / "hyperst.zarr")):
        uns = read.uns["hyperst"]
        assert list(uns["genes"]) == toy_ensemble.genes
        assert list(uns["training"]["members"]["epochs_run"]) == [
            m["epochs_run"] for m in toy_ensemble.train_params["members"]
        ]
        assert uns["metrics"]["raw"]["pcc_mean"] == pytest.approx(table.uns["hyperst"]["metrics"]["raw"]["pcc_mean"])


def test_fit_options_are_checked_before_any_work(sdata):
    """A wrong option fails at once, naming itself, before genes are selected or crops read (and no config dump)."""
    with pytest.raises(ValueError, match=r"^embed_dim='abc' is invalid: .*got embed_dim='abc'\.$"):
        hst.tl.fit(sdata, embed_dim="abc")
    with pytest.raises(TypeError, match=r"max_epochs='5': `max_epochs` takes a number"):
        hst.tl.fit(sdata, max_epochs="5")
    with pytest.raises(TypeError, match=r"unknown option 'embed_dims'"):
        hst.tl.fit(sdata, embed_dims=8)
    assert "hyperst_gene" not in sdata.tables["table"].var


def test_config_values_valid_together_pass_the_check():
    from hyperst.tl import check_fit_options

    check_fit_options({"curv_min": 2.0, "curv_init": 3.0, "embed_dim": 16})  # curv_min=2 alone breaks the order
    with pytest.raises(ValueError, match=r"0 < curv_min <= curv_init <= curv_max"):
        check_fit_options({"curv_min": 2.0, "curv_init": 1.5})
