"""Target scale (raw | normalised), checkpoint rule, library-size evaluation, augmentation and feature scaling."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from spatialdata import deepcopy as sd_deepcopy

import hyperst as hst
from hyperst.data import expression, log2p
from hyperst.model._scaling import scaled_features


@pytest.fixture
def sdata(toy_sdata):
    return sd_deepcopy(toy_sdata)


@pytest.fixture(scope="module")
def normalised_model(toy_sdata, fast_fit_kwargs):
    return hst.tl.fit(toy_sdata, max_epochs=2, target="normalised", validation="none", **fast_fit_kwargs)


def _counts(table, genes):
    return np.asarray(table[:, genes].X.toarray(), dtype=np.float64)


def test_normalised_target_is_saved_and_predicted_on_its_scale(sdata, normalised_model, tmp_path):
    table = sdata.tables["table"]
    library = np.asarray(table.X.sum(axis=1)).ravel()
    assert normalised_model.target == "normalised"
    trained = _counts(table, normalised_model.genes).sum(axis=1) > 0  # every measured spot trains (no validation)
    assert normalised_model.reference_library_size == pytest.approx(np.median(library[trained]))

    hst.tl.predict(sdata, normalised_model)
    out = sdata.tables["hyperst"]
    rows = table.obs_names.get_indexer(out.obs_names)
    reference = normalised_model.reference_library_size
    expected = expression(_counts(table, normalised_model.genes)[rows], "normalised", library[rows], reference)
    np.testing.assert_allclose(out.layers["observed"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.obs["hyperst_library_size"], library[rows])
    assert out.uns["hyperst"]["target"] == {
        "scale": "normalised",
        "reference_library_size": normalised_model.reference_library_size,
    }

    normalised_model.save(tmp_path / "model")
    loaded = hst.HyperST.load(tmp_path / "model")
    assert (loaded.target, loaded.reference_library_size) == ("normalised", normalised_model.reference_library_size)


def test_evaluate_scores_both_scales_from_the_library_size(sdata, normalised_model, toy_model):
    table = sdata.tables["table"]
    library = np.asarray(table.X.sum(axis=1)).ravel()
    for model in (toy_model, normalised_model):
        hst.tl.predict(sdata, model, overwrite=True)
        out = sdata.tables["hyperst"]
        per_gene = hst.tl.evaluate(sdata)
        rows = table.obs_names.get_indexer(out.obs_names)
        counts = _counts(table, model.genes)[rows]
        raw = log2p(counts)
        norm = expression(counts, "normalised", library[rows], 1e4)
        predicted = np.asarray(out.layers["predicted"])
        gene = 4
        assert per_gene["pearson"].iloc[gene] == pytest.approx(np.corrcoef(raw[:, gene], predicted[:, gene])[0, 1])
        assert per_gene["pearson_norm"].iloc[gene] == pytest.approx(
            np.corrcoef(norm[:, gene], predicted[:, gene])[0, 1], abs=1e-5
        )
        assert out.uns["hyperst"]["metrics"]["normalisation"] == "library_size"


def test_evaluate_falls_back_to_the_panel_and_says_so(sdata, toy_model, caplog):
    hst.tl.predict(sdata, toy_model)
    del sdata.tables["hyperst"].obs["hyperst_library_size"]
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        hst.tl.evaluate(sdata)
    assert sdata.tables["hyperst"].uns["hyperst"]["metrics"]["normalisation"] == "panel"
    assert "normalise over the panel" in caplog.text


def test_normalised_model_predicts_an_he_only_slide(sdata, normalised_model):
    hst.pp.tile_tissue(sdata, "S1_image")
    hst.tl.predict(sdata, normalised_model, table_key=None, spots_key="S1_image_tiles", key_added="tiles")
    out = sdata.tables["tiles"]
    assert np.isfinite(out.layers["predicted"]).all()
    assert "observed" not in out.layers and "hyperst_library_size" not in out.obs


def test_bad_target_inputs_change_nothing(sdata, fast_fit_kwargs):
    table = sdata.tables["table"]
    before = table.X.copy()
    with pytest.raises(ValueError, match="`target` must be one of"):
        hst.tl.fit(sdata, max_epochs=1, target="cpm", **fast_fit_kwargs)
    spots = hst.data.prepare_spots(sdata, genes=list(table.var_names[:5]))
    model = hst.HyperST(spots.genes, target="normalised", encoder="cnn", encoder_kwargs={"input_size": 32})
    empty = type(spots)(**{**spots.__dict__, "library_size": np.zeros(spots.n_spots)})
    with pytest.raises(ValueError, match="sum to zero"):
        model.train(empty, np.flatnonzero(spots.trainable), max_epochs=1, progress_bar=False)
    assert not model.is_trained and model.reference_library_size is None
    assert (table.X != before).nnz == 0 and set(sdata.tables) == {"table"}


def test_predict_says_when_the_table_has_none_of_the_genes(sdata, toy_model, caplog):
    table = sdata.tables["table"]
    table.var_names = [f"other_{g}" for g in table.var_names]
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        hst.tl.predict(sdata, toy_model)
    n = len(toy_model.genes)
    assert f"lacks {n} of the model's {n} genes" in caplog.text
    assert "observed" not in sdata.tables["hyperst"].layers


@pytest.mark.parametrize("checkpoint", ["mse", "loss", "last"])
def test_checkpoint_rule_picks_the_epoch_it_names(toy_sdata, fast_fit_kwargs, checkpoint):
    model = hst.tl.fit(toy_sdata, max_epochs=4, patience=4, checkpoint=checkpoint, **fast_fit_kwargs)
    history, best = model.history, model.train_params["best_epoch"]
    assert {"val_mse", "val_loss", "val_hca", "val_hea", "train_mse"} <= set(history.columns)
    if checkpoint == "last":
        assert len(history) == 4 and best == 3
    else:
        assert best == int(history[f"val_{checkpoint}"].idxmin())
    assert model.train_params["checkpoint"] == checkpoint


def test_augmenting_frozen_features_is_refused(sdata):
    table = sdata.tables["table"]
    table.obsm["emb"] = np.random.default_rng(0).normal(size=(table.n_obs, 6)).astype(np.float32)
    options = {"encoder": "features", "encoder_kwargs": {"spot_key": "emb"}, "embed_dim": 8, "progress_bar": False}
    for bad in ({"augment": True}, {"stain_augment": 0.05}):
        with pytest.raises(ValueError, match="cannot be augmented"):
            hst.tl.fit(sdata, max_epochs=1, **options, **bad)


def test_section_feature_scaling_centres_each_section(sdata):
    table = sdata.tables["table"]
    rng = np.random.default_rng(0)
    shift = np.where(table.obs["section"].to_numpy() == "S1", 0.0, 5.0)[:, None]
    table.obsm["emb"] = (rng.normal(size=(table.n_obs, 6)) + shift).astype(np.float32)
    options = {"encoder": "features", "encoder_kwargs": {"spot_key": "emb"}, "embed_dim": 8, "progress_bar": False}
    model = hst.tl.fit(sdata, max_epochs=1, feature_scaling="section", **options)
    spots = hst.data.prepare_spots(sdata, genes=model.genes)
    scaled = scaled_features(model.frozen_features(spots), spots.section_of, model.feature_scaling)[0]
    for section in np.unique(spots.section_of):
        block = scaled[spots.section_of == section]
        np.testing.assert_allclose(block.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(block.std(axis=0), 1, atol=1e-4)
    hst.tl.predict(sdata, model)
    assert np.isfinite(sdata.tables["hyperst"].layers["predicted"]).all()


def test_width_follows_the_data_size_unless_given(sdata, caplog):
    from hyperst.tl._fit import SMALL_DATA_SPOTS, prepare_fit, size_defaults

    table = sdata.tables["table"]
    table.obsm["emb"] = np.random.default_rng(0).normal(size=(table.n_obs, 6)).astype(np.float32)
    options = {"encoder": "features", "encoder_kwargs": {"spot_key": "emb"}, "progress_bar": False}
    with caplog.at_level(logging.INFO, logger="hyperst"):  # the untrained models `fit` would train
        model = prepare_fit(sdata, options).new_model()
    assert (model.config.embed_dim, model.config.dropout) == (256, 0.3) and "embed_dim=256, dropout=0.3" in caplog.text
    chosen = prepare_fit(sdata, {**options, "embed_dim": 8, "dropout": 0.0}).new_model().config
    assert (chosen.embed_dim, chosen.dropout) == (8, 0.0)
    assert size_defaults(SMALL_DATA_SPOTS - 1) == {"embed_dim": 256, "dropout": 0.3}
    assert size_defaults(SMALL_DATA_SPOTS) == {"embed_dim": 1024, "dropout": 0.1}
