"""``HyperST.train``'s grouped options: trainer_, plan_ and loader_kwargs; the flat keywords they replaced still work."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst._constants import LOADER_DEFAULTS, PLAN_DEFAULTS, TRAINER_DEFAULTS
from hyperst.data import prepare_spots
from hyperst.model import HyperST
from hyperst.model._options import group_options


def test_groups_are_filled_with_their_defaults():
    groups = group_options({"plan_kwargs": {"lr": 1e-3}}, {})
    assert groups["plan_kwargs"] == PLAN_DEFAULTS | {"lr": 1e-3}
    assert groups["trainer_kwargs"] == TRAINER_DEFAULTS and groups["loader_kwargs"] == LOADER_DEFAULTS


def test_flat_keywords_go_to_their_group_with_a_deprecation_warning():
    legacy = {"accelerator": "cpu", "precision": "32-true", "lr": 0.5, "n_jobs": 2}
    with pytest.warns(DeprecationWarning, match=r"trainer_kwargs=\{'accelerator'"):
        groups = group_options({}, legacy)
    assert groups["trainer_kwargs"]["accelerator"] == "cpu" and groups["trainer_kwargs"]["precision"] == "32-true"
    assert groups["plan_kwargs"]["lr"] == 0.5 and groups["loader_kwargs"]["n_jobs"] == 2


@pytest.mark.parametrize(
    ("grouped", "legacy", "match"),
    [
        ({"trainer_kwargs": {"max_steps": 3}}, {}, r"Unknown `trainer_kwargs`.*max_steps"),
        ({"plan_kwargs": {"lr": 1.0}}, {"lr": 2.0}, "given twice"),
        ({}, {"learning_rate": 1.0}, "unexpected keyword"),
    ],
)
def test_bad_options_name_the_problem(grouped, legacy, match):
    with pytest.raises(TypeError, match=match):
        group_options(grouped, legacy)


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
    with pytest.raises(TypeError, match="one argument"):
        model.train(spots, rows, train=rows)
