"""A model saved by an earlier release (format 1: the head's weights under ``module.``) loads and predicts the same;
saves before format 5 (the head's hyperparameters under ``"module"``) load with them under ``"hyperparameters"``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from hyperst.model import HyperST

SAVED = Path(__file__).parent / "_data" / "model_format1"
# What the format-1 model predicted for FEATURES, computed with the release that saved it.
EXPECTED = [
    [-0.21624138951301575, 0.6435364484786987, -0.0591958612203598],
    [0.35833409428596497, 0.5839154124259949, 0.11355118453502655],
]
FEATURES = torch.linspace(-1, 1, 8).reshape(2, 4)


def test_format1_save_loads_with_the_same_predictions():
    assert json.loads((SAVED / "config.json").read_text())["format_version"] == 1
    model = HyperST.load(SAVED)
    assert model.is_trained and model.genes == ["G1", "G2", "G3"]
    assert torch.equal(model.network.scaler.mean, torch.full((4,), 0.5))
    model.network.eval()
    with torch.no_grad():
        predicted = model.network({"spot_features": FEATURES, "niche_features": FEATURES.flip(0)}).prediction
    torch.testing.assert_close(predicted, torch.tensor(EXPECTED))


def test_format1_save_has_one_member_and_no_uncertainty(caplog):
    with caplog.at_level(logging.INFO, logger="hyperst"):
        model = HyperST.load(SAVED)
    assert model.n_models == 1 and model.calibration is None and model.ood_reference is None
    assert model.background == "keep"  # trained on crops as they were: predicts from them the same way
    assert "without an out-of-distribution reference" in caplog.text


def test_format1_save_written_again_loads_as_the_current_format(tmp_path):
    from hyperst.model._save_load import FORMAT_VERSION

    model = HyperST.load(SAVED)
    model.save(tmp_path / "again")
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert "module" not in config and config["hyperparameters"] == model.config.to_dict()
    again = HyperST.load(tmp_path / "again")
    for key, value in model.network.state_dict().items():
        assert torch.equal(again.network.state_dict()[key], value), key


def test_background_survives_save_and_load(tmp_path):
    for background in ("white", "keep"):
        model = HyperST.load(SAVED)
        model.background = background
        model.save(tmp_path / background)
        assert HyperST.load(tmp_path / background).background == background


def test_hyperparameters_saved_under_module_before_format_5_load(tmp_path):
    """Format 4 and before kept the head's hyperparameters under "module": read under today's name."""
    model = HyperST.load(SAVED)
    model.save(tmp_path / "now")
    config = json.loads((tmp_path / "now" / "config.json").read_text())
    old = {("module" if k == "hyperparameters" else k): v for k, v in config.items()} | {"format_version": 4}
    (tmp_path / "now" / "config.json").write_text(json.dumps(old))
    loaded = HyperST.load(tmp_path / "now")
    assert loaded.config.to_dict() == model.config.to_dict() == config["hyperparameters"]
    assert loaded.background == model.background and loaded.n_views == model.n_views
    (tmp_path / "now" / "config.json").write_text(json.dumps(old | {"format_version": 5}))
    with pytest.raises(ValueError, match="lacks the keys"):  # format 5 has no "module" to rename
        HyperST.load(tmp_path / "now")
