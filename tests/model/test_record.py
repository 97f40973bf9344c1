"""The saved model as a record: ``HyperST`` maps to and from it, the folder holds exactly it, old formats upgrade."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hyperst.model import HyperST, model_digest
from hyperst.model._save_load import FORMAT_VERSION, ModelRecord, read_record, record_digest, write_record


def _same_record(a: ModelRecord, b: ModelRecord) -> None:
    assert a.config == b.config
    assert len(a.members) == len(b.members)
    for left, right in zip(a.members, b.members, strict=True):
        assert left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)
    assert (a.ood is None) == (b.ood is None)
    if a.ood is not None:
        assert a.ood.keys() == b.ood.keys() and all(np.array_equal(a.ood[k], b.ood[k]) for k in a.ood)


def test_record_round_trips_through_the_model_and_the_folder(toy_ensemble, tmp_path):
    record = toy_ensemble._to_record()
    assert len(record.members) == 3 and record.ood is not None and record.config["calibration"] is not None
    write_record(record, tmp_path / "m")
    read = read_record(tmp_path / "m")
    assert read.source == str(tmp_path / "m")
    _same_record(record, read)
    _same_record(record, HyperST._from_record(read)._to_record())
    assert record_digest(read) == model_digest(toy_ensemble)


def test_folder_names_the_files_the_record_does_not(toy_ensemble, tmp_path):
    write_record(toy_ensemble._to_record(), tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert config["members"] == ["model.safetensors", "model_1.safetensors", "model_2.safetensors"]
    assert config["ood"]["file"] == "ood_reference.safetensors"
    record = read_record(tmp_path / "m")
    assert "members" not in record.config and "format_version" not in record.config
    assert "file" not in record.config["ood"]


def test_an_old_configuration_gets_today_s_keys(toy_model, tmp_path):
    toy_model.save(tmp_path / "m")
    file = tmp_path / "m" / "config.json"
    config = json.loads(file.read_text())
    for key in ("target", "feature_scaling", "adapted_from", "calibration", "ood", "members"):
        config.pop(key, None)
    config["format_version"] = 2
    file.write_text(json.dumps(config))
    record = read_record(tmp_path / "m")
    assert record.config["target"] == {"scale": "raw", "reference_library_size": None}
    assert record.config["feature_scaling"] == "training" and record.config["ood"] is None
    assert len(record.members) == 1


def test_weights_that_do_not_fit_the_configuration_are_refused(toy_model):
    record = toy_model._to_record()
    record.members[0].pop(next(iter(record.members[0])))
    with pytest.raises(ValueError, match="do not match the saved configuration"):
        HyperST._from_record(record)
