"""`fit(blend=...)`: members of other kinds blended with the networks, weights chosen on validation spots."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import spatialdata

import hyperst as hst

# A few epochs of two small networks on features read from the table: these tests check the blend, not learning.
QUICK = {"max_epochs": 2, "n_models": 2, "embed_dim": 16, "batch_size": 32, "progress_bar": False}


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


@pytest.fixture(scope="module")
def options(linear_sdata):
    genes = linear_sdata.tables["table"].var_names.tolist()
    features = {"encoder": "features", "encoder_kwargs": {"spot_key": "random_features"}}
    return {**QUICK, **features, "genes": genes, "validation": "spatial"}


@pytest.fixture(scope="module")
def blended(linear_sdata, options):
    return hst.tl.fit(linear_sdata, blend=("ridge", "retrieval"), **options)


@pytest.fixture(scope="module")
def plain(linear_sdata, options):
    return hst.tl.fit(linear_sdata, **options)


def _pcc(observed: np.ndarray, predicted: np.ndarray) -> float:
    o, p = observed - observed.mean(0), predicted - predicted.mean(0)
    return float(np.mean((o * p).sum(0) / np.sqrt((o**2).sum(0) * (p**2).sum(0))))


def test_a_target_linear_in_the_features_gives_the_ridge_member_the_weight(linear_sdata, blended):
    weights = blended.train_params["blend"]["weights"]
    assert set(weights) == {"hyperst", "ridge", "retrieval"} and sum(weights.values()) == pytest.approx(1)
    assert weights["ridge"] >= 0.8, weights
    assert blended.blender.weights.shape == (3, len(blended.genes))
    table = hst.tl.predict(linear_sdata, blended, inplace=False)
    observed = table.layers["observed"]
    alone = blended.predict(_spots(linear_sdata, blended), blend=False)["predicted"]
    assert _pcc(observed, table.layers["predicted"]) > _pcc(observed, alone) + 0.1  # two epochs learn little
    assert table.uns["hyperst"]["training"]["blend"]["weights"] == weights  # provenance of the blend
    assert table.layers["predicted_sd"].shape == observed.shape  # calibrated around the blend


def test_the_networks_of_a_blended_fit_are_those_of_the_plain_fit(linear_sdata, plain, blended):
    assert plain.blender is None and plain.blend == ()
    spots = _spots(linear_sdata, plain)
    np.testing.assert_array_equal(plain.predict(spots)["predicted"], blended.predict(spots, blend=False)["predicted"])


def test_save_and_load_keep_the_blend_and_its_predictions(linear_sdata, blended, tmp_path):
    from hyperst.model._save_load import BLEND_FILE, FORMAT_VERSION

    blended.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION == 6 and config["blend"] == ["ridge", "retrieval"]
    assert config["blender"]["file"] == BLEND_FILE and (tmp_path / "model" / BLEND_FILE).is_file()
    loaded = hst.HyperST.load(tmp_path / "model")
    assert loaded.blend == ("ridge", "retrieval") and loaded.blend_weights == "global"
    spots = _spots(linear_sdata, blended)
    np.testing.assert_array_equal(loaded.predict(spots)["predicted"], blended.predict(spots)["predicted"])
    np.testing.assert_array_equal(loaded.blender.weights, blended.blender.weights)
    (tmp_path / "model" / BLEND_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="folder is incomplete"):
        hst.HyperST.load(tmp_path / "model")


def test_per_gene_weights_are_one_per_member_and_gene_and_sum_to_one(linear_sdata, options):
    model = hst.tl.fit(linear_sdata, blend=("ridge",), blend_weights="gene", **options)
    weights = model.blender.weights
    assert weights.shape == (2, len(model.genes)) and np.allclose(weights.sum(axis=0), 1)
    assert model.train_params["blend"]["per_gene"] is True


def test_without_validation_spots_the_networks_predict_alone_and_say_so(linear_sdata, options, caplog):
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        model = hst.tl.fit(linear_sdata, blend=("ridge",), **(options | {"validation": "none", "n_models": 1}))
    assert model.blender is None
    assert any("the networks predict alone" in r.getMessage() for r in caplog.records)


def test_adapting_a_blended_model_refits_its_members_on_the_new_spots(linear_sdata, blended):
    adapted = hst.tl.adapt(linear_sdata, blended, spots=0.5, seed=0, progress_bar=False)
    assert adapted.blender is not None and adapted.blender is not blended.blender
    assert adapted.blender.n_spots < blended.blender.n_spots  # chosen on the adaptation's validation spots
    assert adapted.blender.mean_weights()["ridge"] >= 0.8


def test_adapt_blends_a_ridge_probe_fitted_on_the_adaptation_spots_by_default(linear_sdata, plain, caplog):
    with caplog.at_level(logging.INFO, logger="hyperst"):
        adapted = hst.tl.adapt(linear_sdata, plain, spots=0.5, seed=0, progress_bar=False)
    assert plain.blend == () and plain.blender is None  # the base model is untouched
    assert adapted.blend == ("ridge",) and adapted.adapted_from["blend"] == ["ridge"]
    assert adapted.blender.mean_weights()["ridge"] >= 0.8  # the target is linear in the features
    assert any("Blending a ridge probe" in r.getMessage() for r in caplog.records)
    spots = _spots(linear_sdata, adapted)
    observed = np.log2(1 + spots.counts)
    blended_r = _pcc(observed, adapted.predict(spots)["predicted"])
    assert blended_r > _pcc(observed, adapted.predict(spots, blend=False)["predicted"]) + 0.1
    alone = hst.tl.adapt(linear_sdata, plain, spots=0.5, seed=0, blend=None, progress_bar=False)
    assert alone.blend == () and alone.blender is None and alone.adapted_from["blend"] == []
    np.testing.assert_array_equal(  # the same networks: the blend only adds the probe
        alone.predict(spots)["predicted"], adapted.predict(spots, blend=False)["predicted"]
    )


def test_adapt_on_too_few_spots_to_weigh_a_probe_blends_none_and_says_so(linear_sdata, plain, caplog):
    names = linear_sdata.tables["table"].obs_names[:12]  # about 2 validation spots
    with caplog.at_level(logging.INFO, logger="hyperst"):
        adapted = hst.tl.adapt(linear_sdata, plain, spots=names, progress_bar=False, max_epochs=1)
    assert adapted.blend == () and adapted.blender is None
    assert any("No ridge probe blended" in r.getMessage() for r in caplog.records)


def test_adapt_blend_of_a_trained_encoder(toy_sdata, toy_model, monkeypatch):
    adapted = hst.tl.adapt(toy_sdata, toy_model, spots=0.5, train="head", max_epochs=1, progress_bar=False)
    assert adapted.blend == ()  # "auto": a ridge probe needs frozen features

    def no_reading(*args, **kwargs):
        raise AssertionError("adapt read the slides before checking `blend`")

    monkeypatch.setattr("hyperst.data.prepare_spots", no_reading)  # a bad `blend` is refused before any reading
    with pytest.raises(ValueError, match="ridge member reads a frozen encoder's features"):
        hst.tl.adapt(toy_sdata, toy_model, blend=("ridge",), max_epochs=1, progress_bar=False)
    with pytest.raises(TypeError, match="sequence of member kinds"):
        hst.tl.adapt(toy_sdata, toy_model, blend="ridge", progress_bar=False)
    assert toy_model.blend == ()  # the model is untouched


def test_cross_validate_scores_the_blend_and_its_networks_alone(linear_sdata, options):
    cv = hst.tl.cross_validate(linear_sdata, blend=("ridge",), baselines=("ridge",), **options)
    for suffix in ("", "_norm"):
        blend, alone = cv[f"pcc_mean{suffix}"], cv[f"pcc_mean{suffix}_unblended"]
        assert (blend > alone + 0.1).all(), (blend, alone)  # the ridge member carries the linear signal


def test_members_that_cannot_work_are_refused_before_training(toy_sdata, fast_fit_kwargs):
    with pytest.raises(ValueError, match="ridge member reads a frozen encoder's features.*'cnn'"):
        hst.tl.fit(toy_sdata, blend=("ridge",), **fast_fit_kwargs)
    with pytest.raises(ValueError, match="alignment='none'"):
        hst.tl.fit(toy_sdata, blend=("retrieval",), alignment="none", **fast_fit_kwargs)
    with pytest.raises(TypeError, match="sequence of member kinds"):
        hst.tl.fit(toy_sdata, blend="ridge", **fast_fit_kwargs)
    with pytest.raises(ValueError, match="`blend_weights` must be one of"):
        hst.tl.fit(toy_sdata, blend=("retrieval",), blend_weights="median", **fast_fit_kwargs)


def _spots(sdata, model):
    from hyperst.data import prepare_spots

    return prepare_spots(sdata, genes=model.genes, background=model.background)
