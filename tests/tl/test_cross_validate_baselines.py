"""`cross_validate(baselines=...)`: the same folds, features, targets and panel for HyperST and its baselines."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import spatialdata

import hyperst as hst

BASELINES = ("ridge", "knn", "shuffled")
# One network, a few epochs: these tests check the comparison, not how well HyperST learns.
QUICK = {"max_epochs": 2, "n_models": 1, "embed_dim": 16, "batch_size": 32, "progress_bar": False}


@pytest.fixture(scope="module")
def toy_cv(toy_sdata):
    """Both toy sections held out in turn, the frozen squidpy encoder, all three baselines (seconds)."""
    options = {"encoder": "squidpy", "encoder_kwargs": {"input_size": 32}, "validation": "spatial"}
    return hst.tl.cross_validate(toy_sdata, baselines=BASELINES, **QUICK, **options)


def test_every_method_is_scored_on_every_fold_and_both_scales(toy_cv):
    expected = {f"pcc_mean{s}_{m}" for m in BASELINES for s in ("", "_norm")} | {"difference", "difference_norm"}
    assert expected <= set(toy_cv.columns)
    assert list(toy_cv["held_out"]) == ["S1", "S2"]
    summary = toy_cv.attrs["baselines"]
    for scale, suffix in (("raw", ""), ("normalised", "_norm")):
        entry = summary[scale]
        assert entry["best"] in ("ridge", "knn")  # a control is never the baseline HyperST is measured against
        best = toy_cv[f"pcc_mean{suffix}_{entry['best']}"]
        np.testing.assert_allclose(toy_cv[f"difference{suffix}"], toy_cv[f"pcc_mean{suffix}"] - best)
        assert entry["difference"] == pytest.approx(toy_cv[f"difference{suffix}"].mean())
        assert entry["ahead"] == int((toy_cv[f"difference{suffix}"] > 0).sum()) and entry["folds"] == 2
        assert entry["verdict"].startswith(f"HyperST ahead of {entry['best']} on {entry['ahead']} of 2 folds, ")
        assert entry["verdict"].endswith(f"mean r ({scale}).")


def test_shuffled_image_control_scores_near_zero_and_the_probes_well_above(toy_cv):
    for suffix in ("", "_norm"):
        assert (toy_cv[f"pcc_mean{suffix}_shuffled"].abs() < 0.1).all(), toy_cv[f"pcc_mean{suffix}_shuffled"]
        assert (toy_cv[f"pcc_mean{suffix}_ridge"] > 0.3).all(), toy_cv[f"pcc_mean{suffix}_ridge"]
        assert (toy_cv[f"pcc_mean{suffix}_knn"] > 0.2).all(), toy_cv[f"pcc_mean{suffix}_knn"]


@pytest.fixture(scope="module")
def linear_sdata(toy_sdata):
    """The toy slide with random image features in ``obsm`` and counts whose log is linear in them."""
    sdata = spatialdata.deepcopy(toy_sdata)
    table = sdata.tables["table"]
    rng = np.random.default_rng(0)
    features = rng.normal(size=(table.n_obs, 8)).astype(np.float32)
    log_counts = np.clip(3.0 + features @ rng.normal(scale=0.6, size=(8, table.n_vars)), 0, None)
    table.X = np.round(np.exp2(log_counts) - 1).astype(np.float32)
    table.obsm["random_features"] = features
    return sdata


def test_a_target_linear_in_the_features_makes_ridge_win(linear_sdata):
    options = {"encoder": "features", "encoder_kwargs": {"spot_key": "random_features"}, "validation": "spatial"}
    genes = linear_sdata.tables["table"].var_names.tolist()
    cv = hst.tl.cross_validate(linear_sdata, genes=genes, baselines=("knn", "ridge"), **QUICK, **options)
    for scale, suffix in (("raw", ""), ("normalised", "_norm")):
        assert cv.attrs["baselines"][scale]["best"] == "ridge"
        assert (cv[f"pcc_mean{suffix}_ridge"] > 0.8).all(), cv[f"pcc_mean{suffix}_ridge"]
        assert (cv[f"difference{suffix}"] < 0).all(), cv[f"difference{suffix}"]  # ridge ahead of HyperST
    assert "pcc_mean_shuffled" not in cv  # only the baselines asked for


def test_a_trained_encoder_compares_on_the_squidpy_features_and_says_so(toy_sdata, fast_fit_kwargs, caplog):
    options = {**fast_fit_kwargs, "max_epochs": 1}
    with caplog.at_level(logging.INFO, logger="hyperst"):
        cv = hst.tl.cross_validate(toy_sdata, baselines=("ridge",), n_splits=2, **options)
    assert any("the baselines read the frozen 'squidpy' features" in r.getMessage() for r in caplog.records)
    assert (cv["pcc_mean_ridge"] > 0.3).all()


def test_unknown_baseline_fails_before_training(toy_sdata):
    with pytest.raises(ValueError, match=r"`baselines` must be one of \('ridge', 'knn', 'shuffled'\), got 'lasso'"):
        hst.tl.cross_validate(toy_sdata, baselines=("lasso",), **QUICK)
    with pytest.raises(TypeError, match="sequence of names"):
        hst.tl.cross_validate(toy_sdata, baselines="ridge", **QUICK)
