"""Feature scaling of frozen encoders (``hyperst.model._scaling``): per-section standardisation, the members'
scalers, ``HyperST.refit_scaler`` and ``fit_scaler`` row positions (deprecated)."""

from __future__ import annotations

import numpy as np
import pytest
import spatialdata

from hyperst.data import prepare_spots, stored_features
from hyperst.model import HyperST
from hyperst.model._scaling import fit_scalers, scaled_features, standardise_per_section


def test_sections_are_standardised_apart():
    rng = np.random.default_rng(0)
    section_of = np.repeat([0, 1], 50)
    features = rng.normal(size=(100, 4)) * [1, 2, 3, 4] + np.where(section_of == 1, 10.0, 0.0)[:, None]
    features[:, 3] = 7.0  # a constant column is centred, not divided by 0
    out = standardise_per_section(features, section_of)
    assert out.dtype == np.float32
    for section in (0, 1):
        block = out[section_of == section]
        np.testing.assert_allclose(block.mean(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(block[:, :3].std(axis=0), 1, atol=1e-5)
        assert (block[:, 3] == 0).all()
    pair = (features, features + 1)
    assert scaled_features(pair, section_of, "training") is pair  # as the encoder gives them
    spot, niche = scaled_features(pair, section_of, "section")
    np.testing.assert_array_equal(spot, out)
    np.testing.assert_allclose(niche, out, atol=1e-6)


def _model_and_spots(toy_sdata):
    sdata = spatialdata.deepcopy(toy_sdata)
    spots = prepare_spots(sdata, genes=list(sdata.tables["table"].var_names[:5]))
    model = HyperST(spots.genes, n_models=2)  # the default encoder is frozen
    rng = np.random.default_rng(1)
    given = tuple(rng.normal(size=(spots.n_spots, model.encoder.out_dim)).astype(np.float32) for _ in range(2))
    stored_features(spots, model.encoder, lambda: given)  # the features the model reads: no encoding here
    return model, spots, given


def _expected_mean(given, rows):
    return np.concatenate([f[rows] for f in given]).mean(axis=0)


def test_members_scalers_are_fitted_on_the_given_rows(toy_sdata):
    model, spots, given = _model_and_spots(toy_sdata)
    rows = np.arange(10, 60)
    fit_scalers(model.members, given, rows)
    for member in model.members:
        np.testing.assert_allclose(member.scaler.mean.numpy(), _expected_mean(given, rows), rtol=1e-5, atol=1e-6)
    model.refit_scaler(spots)  # every spot by default
    for member in model.members:
        np.testing.assert_allclose(
            member.scaler.mean.numpy(), _expected_mean(given, np.arange(spots.n_spots)), rtol=1e-5, atol=1e-6
        )


def test_row_positions_as_fit_scaler_refit_it_and_warn(toy_sdata):
    model, spots, given = _model_and_spots(toy_sdata)
    rows, train_rows = np.arange(5, 25), np.flatnonzero(spots.trainable)
    # batch_size=1 stops training after the options were sorted: no network is trained here
    with pytest.warns(DeprecationWarning, match="refit_scaler"), pytest.raises(ValueError, match="per batch"):
        model.train(spots, train_rows, fit_scaler=rows, batch_size=1)
    for member in model.members:
        np.testing.assert_allclose(member.scaler.mean.numpy(), _expected_mean(given, rows), rtol=1e-5, atol=1e-6)
