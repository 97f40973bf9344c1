"""``HyperST.train``'s grouped options: trainer_, plan_ and loader_kwargs; the flat keywords they replaced still work."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst._constants import LOADER_DEFAULTS, PLAN_DEFAULTS, TRAINER_DEFAULTS
from hyperst.data import prepare_spots
from hyperst.model import HyperST
from hyperst.model._options import group_options, upgrade_keywords


def test_groups_are_filled_with_their_defaults():
    groups = group_options({"plan_kwargs": {"lr": 1e-3}})
    assert groups["plan_kwargs"] == PLAN_DEFAULTS | {"lr": 1e-3}
    assert groups["trainer_kwargs"] == TRAINER_DEFAULTS and groups["loader_kwargs"] == LOADER_DEFAULTS


def test_flat_keywords_go_to_their_group_with_a_deprecation_warning():
    legacy = {"accelerator": "cpu", "precision": "32-true", "lr": 0.5, "n_jobs": 2, "train": [0, 1], "seed": 3}
    with pytest.warns(DeprecationWarning, match=r"trainer_kwargs=\{'accelerator'"):
        upgraded = upgrade_keywords(legacy)
    assert upgraded["train_rows"] == [0, 1] and upgraded["seed"] == 3 and "train" not in upgraded
    groups = group_options(upgraded)
    assert groups["trainer_kwargs"]["accelerator"] == "cpu" and groups["trainer_kwargs"]["precision"] == "32-true"
    assert groups["plan_kwargs"]["lr"] == 0.5 and groups["loader_kwargs"]["n_jobs"] == 2


def test_bad_options_name_the_problem():
    with pytest.raises(TypeError, match=r"Unknown `trainer_kwargs`.*max_steps"):
        group_options({"trainer_kwargs": {"max_steps": 3}})
    with pytest.raises(TypeError, match="given twice"):
        upgrade_keywords({"plan_kwargs": {"lr": 1.0}, "lr": 2.0})
    with pytest.raises(TypeError, match="one argument"):
        upgrade_keywords({"train": [0], "train_rows": [0]})


def test_train_accepts_the_old_keywords_and_names(toy_sdata):
    spots = prepare_spots(toy_sdata, genes=list(toy_sdata.tables["table"].var_names[:5]))
    model = HyperST(spots.genes, encoder="cnn", encoder_kwargs={"input_size": 32})
    rows = np.flatnonzero(spots.trainable)
    # batch_size=1 stops training after the options were sorted: no network is trained here
    with pytest.warns(DeprecationWarning) as caught, pytest.raises(ValueError, match="at least 2 spots per batch"):
        model.train(spots, train=rows, validation=rows[:3], lr=1e-3, accelerator="cpu", batch_size=1)
    said = " ".join(str(w.message) for w in caught)
    for new in ("train_rows=", "validation_rows=", "plan_kwargs=", "trainer_kwargs="):
        assert new in said
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.train(spots, rows, learning_rate=1.0)


def test_train_puts_given_features_into_the_feature_store(toy_sdata):
    import spatialdata

    sdata = spatialdata.deepcopy(toy_sdata)
    spots = prepare_spots(sdata, genes=list(sdata.tables["table"].var_names[:5]))
    model = HyperST(spots.genes)  # the default encoder is frozen
    given = tuple(np.full((spots.n_spots, model.encoder.out_dim), value, dtype=np.float32) for value in (1.0, 2.0))
    rows = np.flatnonzero(spots.trainable)
    with pytest.warns(DeprecationWarning, match="feature store"), pytest.raises(ValueError, match="per batch"):
        model.train(spots, rows, features=given, batch_size=1)
    stored = model.frozen_features(spots)
    assert all(np.array_equal(s, g) for s, g in zip(stored, given, strict=True))
