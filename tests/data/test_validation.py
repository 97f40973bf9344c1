"""The early-stopping split: whole groups when there are enough, spatial blocks otherwise."""

from __future__ import annotations

import logging
from copy import deepcopy

import numpy as np
import pytest

from hyperst.data import prepare_spots, validation_split


@pytest.fixture(scope="module")
def unnamed_spots(toy_sdata):
    """The two-section toy slide whose table has no ``obs["section"]`` (as spatialdata_io's readers write it)."""
    sdata = deepcopy(toy_sdata)
    del sdata.tables["table"].obs["section"]
    return prepare_spots(sdata)


def test_group_validation_holds_out_one_whole_section(toy_spots):
    rows = np.arange(toy_spots.n_spots)
    train, held_out = validation_split(toy_spots, rows, mode="group", seed=0)
    sections = toy_spots.obs["section"].to_numpy()
    assert len(np.unique(sections[held_out])) == 1
    assert not np.isin(sections[train], sections[held_out]).any()
    assert np.union1d(train, held_out).tolist() == rows.tolist()


def test_without_a_section_column_each_spots_element_is_a_section(toy_spots, unnamed_spots, caplog):
    rows = np.arange(unnamed_spots.n_spots)
    with caplog.at_level(logging.INFO, logger="hyperst"):
        train, held_out = validation_split(unnamed_spots, rows, mode="group", seed=0)
    assert "no obs['section']" in caplog.text
    # the same held-out section as with the column (one element per section in the toy slide)
    expected = validation_split(toy_spots, rows, mode="group", seed=0)
    assert train.tolist() == expected[0].tolist() and held_out.tolist() == expected[1].tolist()
    assert len(np.unique(unnamed_spots.section_of[held_out])) == 1


def test_a_missing_other_column_raises(unnamed_spots):
    rows = np.arange(unnamed_spots.n_spots)
    with pytest.raises(KeyError, match="patient_id.* is not a column of the table's obs"):
        validation_split(unnamed_spots, rows, mode="group", groupby="patient_id")
