"""Group splits: leave one group out, k folds of whole groups, and the patient-leakage warning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hyperst.data import GroupLeakageWarning, group_kfold, leave_one_group_out


@pytest.fixture
def obs():
    sections = ["B4"] * 30 + ["C2"] * 20 + ["C3"] * 25 + ["C4"] * 10 + ["D1"] * 15
    return pd.DataFrame({"section": sections, "patient": [s[0] for s in sections]})


def _check_partition(splits, n):
    for split in splits:
        assert np.intersect1d(split.train, split.test).size == 0
        assert np.union1d(split.train, split.test).tolist() == list(range(n))
    assert sorted(np.concatenate([s.test for s in splits]).tolist()) == list(range(n))  # each row tested once


def test_leave_one_section_out_warns_about_patients(obs):
    with pytest.warns(GroupLeakageWarning, match=r"patient\(s\) \['C'\]"):
        splits = leave_one_group_out(obs, "section")
    assert [s.test_groups for s in splits] == [("B4",), ("C2",), ("C3",), ("C4",), ("D1",)]
    _check_partition(splits, len(obs))
    assert issubclass(GroupLeakageWarning, UserWarning)


def test_leave_one_patient_out_is_clean(obs):
    import anndata as ad

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = leave_one_group_out(ad.AnnData(obs=obs.set_axis(obs.index.astype(str))), "patient")
        no_patients = leave_one_group_out(obs[["section"]], "section")  # no patient column: nothing to check
    assert [s.test_groups for s in splits] == [("B",), ("C",), ("D",)]
    _check_partition(splits, len(obs))
    assert len(no_patients) == 5


def test_group_kfold_balances_whole_groups(obs):
    with pytest.warns(GroupLeakageWarning):
        folds = group_kfold(obs, "section", n_splits=2, seed=0)
    _check_partition(folds, len(obs))
    sizes = [len(f.test) for f in folds]
    assert abs(sizes[0] - sizes[1]) <= 10
    labels = obs["section"].to_numpy()
    for fold in folds:
        assert set(labels[fold.test]).isdisjoint(labels[fold.train])
    again = group_kfold(obs, "patient", n_splits=2, seed=0)
    assert [f.test_groups for f in again] == [f.test_groups for f in group_kfold(obs, "patient", n_splits=2, seed=0)]


def test_split_errors(obs):
    with pytest.raises(KeyError, match="'donor' not found"):
        leave_one_group_out(obs, "donor")
    with pytest.raises(ValueError, match="at least 2 groups"):
        leave_one_group_out(obs[obs["patient"] == "C"], "patient")
    with pytest.raises(ValueError, match="n_splits"):
        group_kfold(obs, "patient", n_splits=4)
    missing = obs.copy()
    missing.loc[0, "section"] = None
    with pytest.raises(ValueError, match="missing values"):
        leave_one_group_out(missing, "section")
