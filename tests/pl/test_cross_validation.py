"""``hst.pl.cross_validation``: one panel per scale, a line per fold through HyperST and its baselines.

Image comparison: ``test_matches_baseline_image`` draws a hand-built table (no training) and compares it with
``tests/pl/_images/cross_validation.png``; regenerate it with ``HYPERST_UPDATE_IMAGES=1`` after an intended change.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import hyperst as hst

VERDICT = "HyperST ahead of ridge on 2 of 3 folds, +0.010 ± 0.026 mean r ({})."


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _result() -> pd.DataFrame:
    """Three folds as `cross_validate(baselines=("ridge", "knn", "shuffled"))` returns them (its columns only)."""
    table = pd.DataFrame(
        {
            "held_out": ["A1", "B1", "C1"],
            "pcc_mean": [0.30, 0.25, 0.20],
            "pcc_mean_norm": [0.20, 0.15, 0.10],
            "pcc_mean_ridge": [0.28, 0.20, 0.24],
            "pcc_mean_norm_ridge": [0.18, 0.12, 0.14],
            "pcc_mean_knn": [0.22, 0.18, 0.15],
            "pcc_mean_norm_knn": [0.15, 0.10, 0.08],
            "pcc_mean_shuffled": [0.01, -0.02, 0.00],
            "pcc_mean_norm_shuffled": [0.00, 0.01, -0.01],
        },
        index=pd.Index([0, 1, 2], name="fold"),
    )
    table.attrs["baselines"] = {s: {"verdict": VERDICT.format(s)} for s in ("raw", "normalised")}
    return table


def test_one_panel_per_scale_a_line_per_fold_and_the_verdict_in_the_title():
    fig = hst.pl.cross_validation(_result(), return_fig=True, show=False)
    assert len(fig.axes) == 2
    for ax, scale, column in zip(fig.axes, ("raw", "normalised"), ("pcc_mean", "pcc_mean_norm"), strict=True):
        assert VERDICT.format(scale) in ax.get_title()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["HyperST", "ridge", "knn", "shuffled\n(control)"]
        folds = [line for line in ax.get_lines() if line.get_label() in ("A1", "B1", "C1")]
        assert len(folds) == 3
        np.testing.assert_allclose(
            folds[0].get_ydata()[:2], _result().loc[0, [column, f"{column}_ridge"]].to_numpy(float)
        )


def test_one_scale_on_the_callers_axes():
    fig, ax = plt.subplots()
    assert hst.pl.cross_validation(_result(), scale="normalised", ax=ax) is None
    assert "(normalised)" in ax.get_title() and len(fig.axes) == 1


def test_without_the_attrs_the_columns_are_enough():
    result = _result()
    result.attrs = {}
    fig = hst.pl.cross_validation(result[["held_out", "pcc_mean", "pcc_mean_norm", "pcc_mean_ridge",
                                          "pcc_mean_norm_ridge"]], return_fig=True, show=False)  # fmt: skip
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["HyperST", "ridge"]


def test_bad_inputs_are_named():
    with pytest.raises(KeyError, match=r"run `hst.tl.cross_validate\(sdata, baselines="):
        hst.pl.cross_validation(_result()[["held_out", "pcc_mean", "pcc_mean_norm"]])
    with pytest.raises(TypeError, match="DataFrame `hst.tl.cross_validate` returns"):
        hst.pl.cross_validation({"pcc_mean": [0.1]})
    with pytest.raises(ValueError, match="`ax` draws one panel"):
        hst.pl.cross_validation(_result(), ax=plt.subplots()[1])
    with pytest.raises(ValueError, match="`scale` must be one of"):
        hst.pl.cross_validation(_result(), scale="log")


def test_matches_baseline_image(matches_baseline):
    matches_baseline(lambda: hst.pl.cross_validation(_result(), return_fig=True, show=False), "cross_validation")
