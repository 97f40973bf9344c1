"""The blend-ceiling benchmark's grid score and summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hyperst import metrics


def test_grid_score_matches_the_mean_r_of_evaluate(blend_ceiling):
    rng = np.random.default_rng(0)
    observed = rng.poisson(2.0, size=(60, 8)).astype(float)
    observed[:, 3] = 1.0  # a constant gene has no r: left out of the mean, as evaluate leaves it out
    predicted = observed + rng.normal(scale=2.0, size=observed.shape)
    genes = [f"g{i}" for i in range(8)]
    expected = metrics.score(observed, predicted, genes)[1]["raw"]["pcc_mean"]
    assert blend_ceiling._pcc(observed, predicted) == pytest.approx(expected)


def test_summaries_average_seeds_per_fold_then_folds_and_split_the_patients(blend_ceiling):
    rows = [
        ("B4", 0, "blend", 0.6, 0.2),
        ("B4", 1, "blend", 0.8, 0.4),
        ("C2", 0, "blend", 0.4, 0.1),
        ("C3", 0, "blend", 0.2, 0.3),
        ("B4", 0, "ridge member", 0.5, 0.2),
        ("C2", 0, "ridge member", 0.5, 0.2),
    ]
    results = pd.DataFrame(rows, columns=["held_out", "seed", "method", "pcc_mean", "pcc_mean_norm"])
    every, within_c, b4 = blend_ceiling.summaries(results).values()
    assert list(every.index) == ["blend", "ridge member"]  # the order the methods ran in
    # B4's two seeds average to 0.7 / 0.3 first, so B4 counts once beside C2 and C3
    assert every.loc["blend", "pcc_mean"] == pytest.approx((0.7 + 0.4 + 0.2) / 3)
    assert every.loc["blend", "pcc_mean_norm"] == pytest.approx((0.3 + 0.1 + 0.3) / 3)
    assert within_c.loc["blend", "pcc_mean"] == pytest.approx(0.3) and "B4" not in within_c.index
    assert b4.loc["blend", ["pcc_mean", "pcc_mean_norm"]].tolist() == pytest.approx([0.7, 0.3])
    assert b4.loc["blend", "seeds"] == 2 and within_c.loc["blend", "seeds"] == 1
    assert "held-out patient (B4)" in blend_ceiling.report(results)
    assert list(blend_ceiling.summaries(results[results["held_out"] != "B4"])) == [
        "section folds (all six)",
        "within patient C (C2-C6)",
    ]
