"""Ensembles through `hst.tl`: calibrated sd, out-of-distribution scores, saving, and their bad inputs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import spatialdata
import torch

import hyperst as hst
from hyperst.model import HyperST


@pytest.fixture
def ensemble(toy_ensemble):
    return toy_ensemble


def test_ensemble_writes_calibrated_sd_and_ood(toy_sdata, ensemble):
    assert ensemble.n_models == 3
    weights = [next(iter(m.head.parameters())).detach() for m in ensemble.members]
    assert not torch.equal(weights[0], weights[1]), "members must differ in initialisation"
    out = hst.tl.predict(toy_sdata, ensemble, inplace=False)
    sd = out.layers["predicted_sd"]
    assert sd.shape == out.shape and np.isfinite(sd).all() and (sd > 0).all()
    ood = out.obs["hyperst_ood"].to_numpy()
    assert ((ood >= 0) & (ood <= 1)).all()
    assert out.obs["hyperst_ood_flag"].dtype == bool
    record = out.uns["hyperst"]["uncertainty"]
    assert record["n_models"] == 3
    assert len(record["calibration"]["factors"]) == len(ensemble.genes)
    assert record["ood"]["n_reference"] == ensemble.ood_reference.n_reference
    hst.tl.evaluate(out)
    uncertainty = out.uns["hyperst"]["metrics"]["uncertainty"]
    assert 0 <= uncertainty["coverage"] <= 1 and "sd_error_spearman" in uncertainty
    assert {"coverage", "sd_error_spearman"} <= set(out.var.columns)
    # the sd is one of the expected expression: measured values are compared with counts at each spot's depth
    assert record["calibration"]["covers"] == "expected" and record["calibration"]["reference_depth"] > 0
    assert uncertainty["interval"] == "measured value at the spot's depth"


def test_a_shallower_copy_of_the_slide_is_still_covered(toy_sdata, ensemble):
    """Counts thinned to a tenth (a patient sequenced shallower): the intervals follow each spot's depth."""
    import anndata as ad
    from scipy import sparse

    shallow = spatialdata.deepcopy(toy_sdata)
    table = shallow.tables["table"]
    counts = table.X.toarray() if sparse.issparse(table.X) else np.asarray(table.X)
    thinned = np.random.default_rng(0).binomial(counts.astype(np.int64), 0.1).astype(np.float32)
    shallow.tables["table"] = ad.AnnData(thinned, obs=table.obs, var=table.var, uns=table.uns)
    coverage = {}
    for name, sdata in {"as measured": toy_sdata, "shallow": shallow}.items():
        out = hst.tl.predict(sdata, ensemble, inplace=False)
        hst.tl.evaluate(out)
        coverage[name] = out.uns["hyperst"]["metrics"]["uncertainty"]["coverage"]
    assert abs(coverage["shallow"] - coverage["as measured"]) < 0.1, coverage
    assert coverage["shallow"] > 0.75, coverage


def test_a_single_model_writes_no_sd_but_scores_ood(toy_sdata, toy_model):
    out = hst.tl.predict(toy_sdata, toy_model, inplace=False)
    assert "predicted_sd" not in out.layers
    assert "hyperst_ood" in out.obs
    hst.tl.evaluate(out)
    assert "uncertainty" not in out.uns["hyperst"]["metrics"]


def test_in_distribution_spots_are_not_flagged_and_recoloured_ones_are(toy_sdata, ensemble):
    """The training slide itself is in distribution; the same slide with red and blue swapped is not."""
    out = hst.tl.predict(toy_sdata, ensemble, inplace=False)
    assert out.obs["hyperst_ood_flag"].mean() < 0.05
    swapped = spatialdata.deepcopy(toy_sdata)
    for key in list(swapped.images):
        image = swapped.images[key]
        swapped.images[key] = image.copy(data=image.data[::-1])
    shifted = hst.tl.predict(swapped, ensemble, inplace=False)
    assert shifted.obs["hyperst_ood"].median() > out.obs["hyperst_ood"].quantile(0.95)


def test_ensemble_saves_and_loads_every_member(toy_sdata, ensemble, tmp_path):
    ensemble.save(tmp_path / "model")
    loaded = HyperST.load(tmp_path / "model")
    assert loaded.n_models == 3
    before = hst.tl.predict(toy_sdata, ensemble, inplace=False)
    after = hst.tl.predict(toy_sdata, loaded, inplace=False)
    for layer in ("predicted", "predicted_sd"):
        np.testing.assert_allclose(after.layers[layer], before.layers[layer], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(after.obs["hyperst_ood"], before.obs["hyperst_ood"])


def test_loading_an_ensemble_with_a_missing_member_says_which(ensemble, tmp_path):
    ensemble.save(tmp_path / "model")
    (tmp_path / "model" / "model_2.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model_2.safetensors"):
        HyperST.load(tmp_path / "model")


@pytest.mark.parametrize("n_models", [0, -1, 1.5, True])
def test_bad_n_models_is_refused_before_anything_changes(toy_sdata, fast_fit_kwargs, n_models):
    tables = dict(toy_sdata.tables)
    with pytest.raises(ValueError, match="n_models"):
        hst.tl.fit(toy_sdata, max_epochs=1, n_models=n_models, **fast_fit_kwargs)
    assert dict(toy_sdata.tables) == tables
    with pytest.raises(ValueError, match="n_models"):
        HyperST(["A", "B"], n_models=n_models)


def test_without_validation_spots_no_sd_is_written_and_that_is_said(toy_sdata, fast_fit_kwargs, caplog):
    with caplog.at_level(logging.INFO, logger="hyperst"):
        model = hst.tl.fit(toy_sdata, max_epochs=1, n_models=2, validation="none", **fast_fit_kwargs)
        out = hst.tl.predict(toy_sdata, model, inplace=False)
    assert model.calibration is None and "predicted_sd" not in out.layers
    assert "No validation spots to calibrate" in caplog.text


def test_frozen_encoders_default_to_an_ensemble(toy_sdata, fast_fit_kwargs):
    from hyperst.tl._fit import DEFAULT_FROZEN_MEMBERS, prepare_fit

    options = fast_fit_kwargs | {"encoder": "squidpy", "encoder_kwargs": {"input_size": 32}}
    assert prepare_fit(toy_sdata, options).new_model().n_models == DEFAULT_FROZEN_MEMBERS
    assert prepare_fit(toy_sdata, fast_fit_kwargs).new_model().n_models == 1  # a trained encoder: one


def test_a_frozen_encoder_trains_on_views_and_keeps_them_in_the_ood_reference(toy_sdata):
    from hyperst.model._uncertainty import OOD_VIEWS

    model = hst.tl.fit(toy_sdata, encoder="squidpy", n_views=2, n_models=1, max_epochs=1, progress_bar=False)
    assert model.n_views == 2
    n_train = model.train_params["n_train_spots"]
    assert model.ood_reference.n_reference == (1 + max(OOD_VIEWS, 2)) * n_train
