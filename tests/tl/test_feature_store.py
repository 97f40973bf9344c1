"""Frozen-encoder features are computed once per slide and spot set, reused after, recomputed when anything changes."""

from __future__ import annotations

import logging
from typing import ClassVar

import pytest
import spatialdata

import hyperst as hst
from hyperst.data import drop_features, store_location
from hyperst.model._uncertainty import OOD_VIEWS
from hyperst.nn.encoders.squidpy_features import SquidpyEncoder
from hyperst.tl._fit import DEFAULT_VIEWS

FIT = {"max_epochs": 1, "embed_dim": 16, "batch_size": 32, "progress_bar": False, "validation": "none"}
# A fit encodes every spot's crops once and once through each augmented view: the training views (white tissue
# edges) and the OOD reference's (the same draws, edges in the crop's glass colour)
ENCODINGS = 1 + DEFAULT_VIEWS + OOD_VIEWS


class CountingEncoder(SquidpyEncoder):
    """The squidpy encoder, counting the crops it encodes (in this process: ``n_jobs=1``)."""

    crops: ClassVar[int] = 0

    def forward(self, crops):
        CountingEncoder.crops += len(crops)
        return super().forward(crops)


def counted(function, *args, **kwargs) -> int:
    """Crops the counting encoder encoded while running ``function``."""
    before = CountingEncoder.crops
    function(*args, **kwargs)
    return CountingEncoder.crops - before


@pytest.fixture
def sdata(toy_sdata):
    return spatialdata.deepcopy(toy_sdata)  # a fresh object: no stored features yet


def test_second_fit_and_predict_read_stored_features(sdata, caplog):
    n_spots = sdata.tables["table"].n_obs
    encoder = CountingEncoder(input_size=16)
    with caplog.at_level(logging.INFO, logger="hyperst"):
        assert counted(hst.tl.fit, sdata, encoder=encoder, **FIT) == 2 * n_spots * ENCODINGS
        assert counted(hst.tl.fit, sdata, encoder=encoder, **FIT) == 0
        model = hst.tl.fit(sdata, encoder=encoder, **FIT)
        assert counted(hst.tl.predict, sdata, model, overwrite=True) == 0
        assert counted(hst.tl.cross_validate, sdata, encoder=encoder, **FIT) == 0
    assert any(r.getMessage().startswith("Reusing the stored 'squidpy' features") for r in caplog.records)
    assert store_location(sdata) is None  # in memory: this object was never written


def test_changed_config_crop_size_or_spots_is_recomputed_and_logged(sdata, caplog):
    n_spots = sdata.tables["table"].n_obs
    model = hst.tl.fit(sdata, encoder=CountingEncoder(input_size=16), **FIT)
    with caplog.at_level(logging.INFO, logger="hyperst"):
        other_bins = CountingEncoder(input_size=16, histogram_bins=8)
        assert counted(hst.tl.fit, sdata, encoder=other_bins, **FIT) == 2 * n_spots * ENCODINGS
        assert counted(hst.tl.fit, sdata, encoder=CountingEncoder(input_size=24), **FIT) == 2 * n_spots * ENCODINGS
        first_section = (sdata.tables["table"].obs["section"] == "S1").sum()
        assert counted(hst.tl.predict, sdata, model, spots_key="S1_spots") == 2 * first_section
    changed = [r for r in caplog.records if "for another encoder configuration, crop geometry or spot set" in r.message]
    assert len(changed) == 2 * ENCODINGS + 1  # two new configurations (crops and views), the prediction's spot set


def test_store_next_to_the_data_is_read_by_a_later_session_and_dropped(sdata, tmp_path, caplog):
    path = tmp_path / "slide.zarr"
    sdata.write(path)
    first = spatialdata.read_zarr(path)
    encoder = CountingEncoder(input_size=16)
    assert counted(hst.tl.fit, first, encoder=encoder, **FIT) > 0
    folder = store_location(first)
    assert folder == tmp_path / "slide.zarr.hyperst-features" and len(list(folder.iterdir())) == ENCODINGS
    later = spatialdata.read_zarr(path)  # another object, as in a new session
    with caplog.at_level(logging.INFO, logger="hyperst"):
        assert counted(hst.tl.fit, later, encoder=encoder, **FIT) == 0
    drop_features(later)
    assert not folder.exists()
    assert counted(hst.tl.fit, later, encoder=encoder, **FIT) > 0


def test_read_only_location_falls_back_to_memory(sdata, tmp_path, caplog):
    path = tmp_path / "slide.zarr"
    sdata.write(path)
    backed = spatialdata.read_zarr(path)
    (tmp_path / "slide.zarr.hyperst-features").write_text("not a folder")  # nothing can be created there
    encoder = CountingEncoder(input_size=16)
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        assert counted(hst.tl.fit, backed, encoder=encoder, **FIT) > 0
    assert any("keeping them in memory for this session" in r.getMessage() for r in caplog.records)
    assert counted(hst.tl.fit, backed, encoder=encoder, **FIT) == 0
    assert (tmp_path / "slide.zarr.hyperst-features").read_text() == "not a folder"


def test_only_the_first_process_of_a_distributed_run_writes_the_store(sdata, tmp_path, monkeypatch, caplog):
    from hyperst.data import _feature_store

    path = tmp_path / "slide.zarr"
    sdata.write(path)
    backed = spatialdata.read_zarr(path)
    monkeypatch.setattr(_feature_store, "process_rank", lambda: 1)  # the second process of a DDP run
    encoder = CountingEncoder(input_size=16)
    with caplog.at_level(logging.INFO, logger="hyperst"):
        assert counted(hst.tl.fit, backed, encoder=encoder, **FIT) > 0
    assert "Process 2 of a distributed run keeps the features in memory" in caplog.text
    assert not store_location(backed).exists()  # nothing written by this process
    assert counted(hst.tl.fit, backed, encoder=encoder, **FIT) == 0  # but kept for its session
