"""encoder="features": embeddings precomputed elsewhere (obsm) instead of crops."""

from __future__ import annotations

import numpy as np
import pytest
from spatialdata import deepcopy as sd_deepcopy

import hyperst as hst


@pytest.fixture
def sdata_with_embeddings(toy_sdata):
    sdata = sd_deepcopy(toy_sdata)
    table = sdata.tables["table"]
    rng = np.random.default_rng(0)
    # an "embedding" that carries the planted signal, plus noise dimensions
    signal = np.concatenate([table.obsm["toy_spot_signal"], table.obsm["toy_niche_signal"]], axis=1)
    table.obsm["emb_spot"] = np.concatenate([signal, rng.normal(size=(table.n_obs, 10))], axis=1).astype(np.float32)
    return sdata


def test_fit_predict_from_obsm(sdata_with_embeddings, fast_fit_kwargs):
    sdata = sdata_with_embeddings
    options = {**fast_fit_kwargs, "encoder": "features", "encoder_kwargs": {"spot_key": "emb_spot"}}
    model = hst.tl.fit(sdata, max_epochs=15, **options)
    assert model.encoder.out_dim == 16 and model.encoder.frozen
    # table features have no crops to view: the OOD reference holds each training spot once, not a copy per view
    assert model.ood_reference.n_reference == model.train_params["n_train_spots"]
    hst.tl.predict(sdata, model)
    out = sdata.tables["hyperst"]
    assert out.uns["hyperst"]["encoder"]["name"] == "features"
    hst.tl.evaluate(sdata)
    assert out.uns["hyperst"]["metrics"]["raw"]["pcc_mean"] > 0.3


def test_features_encoder_bad_input(sdata_with_embeddings, fast_fit_kwargs):
    options = {k: v for k, v in fast_fit_kwargs.items() if k != "encoder_kwargs"} | {"encoder": "features"}
    with pytest.raises(ValueError, match="spot_key"):
        hst.tl.fit(sdata_with_embeddings, max_epochs=1, **options)
    with pytest.raises(KeyError, match="obsm\\['missing'\\]"):
        hst.tl.fit(sdata_with_embeddings, max_epochs=1, **options, encoder_kwargs={"spot_key": "missing"})
    table = sdata_with_embeddings.tables["table"]
    table.obsm["emb_spot"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hst.tl.fit(sdata_with_embeddings, max_epochs=1, **options, encoder_kwargs={"spot_key": "emb_spot"})
