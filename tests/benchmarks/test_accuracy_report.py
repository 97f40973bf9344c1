"""The accuracy benchmark's report: merged result files, seeds averaged per fold, paired differences."""

from __future__ import annotations

import pandas as pd
import pytest


def _results(accuracy, rows):
    """Result rows ``(fold, seed, method, raw r)`` in the benchmark's CSV layout (other metrics filled in)."""
    frame = pd.DataFrame(rows, columns=["held_out", "seed", "method", "raw_pcc_mean"])
    frame["norm_pcc_mean"] = frame["raw_pcc_mean"] / 2
    for key in accuracy.SUMMARY_KEYS[1:]:
        frame[f"raw_{key}"] = frame[f"norm_{key}"] = 1.0
    return frame.assign(n_genes=200, n_train=100, n_test=50, seconds=1.0, epochs=15)


@pytest.fixture
def results(accuracy):
    rows = [
        ("B4", 0, "HyperST", 0.50),
        ("B4", 1, "HyperST", 0.60),
        ("B4", 0, "no HEA", 0.40),
        ("B4", 1, "no HEA", 0.70),
        ("B4", 0, "ridge (PCA + RidgeCV)", 0.55),
        ("C2", 0, "HyperST", 0.30),
        ("C2", 0, "no HEA", 0.20),
        ("C2", 0, "ridge (PCA + RidgeCV)", 0.35),
        ("C2", 0, "ridge (PCA + RidgeCV)", 0.45),  # a rerun in a second result file: the last one counts
    ]
    return _results(accuracy, rows)


def test_fold_means_average_each_folds_seeds(accuracy, results):
    means = accuracy.fold_means(results).set_index(["held_out", "method"])
    assert means.loc[("B4", "HyperST"), "raw_pcc_mean"] == pytest.approx(0.55)
    assert means.loc[("B4", "HyperST"), "n_seeds"] == 2 and means.loc[("C2", "HyperST"), "n_seeds"] == 1


def test_paired_differences_are_per_fold_and_seed(accuracy, results):
    runs = results.drop_duplicates(["held_out", "seed", "method"], keep="last")
    # no HEA - HyperST: -0.1 (B4, 0), +0.1 (B4, 1), -0.1 (C2, 0); normalised values are half the raw ones
    by_seed = accuracy.paired(runs, over="seeds")
    assert by_seed.loc["no HEA", "raw: difference"] == "-0.033 ± 0.115"
    assert by_seed.loc["no HEA", "norm: difference"] == "-0.017 ± 0.058"
    assert by_seed.loc["no HEA", "raw: ahead"] == "1 of 3"
    # over folds, B4's two seeds are averaged first (0.0), then C2 (-0.1)
    by_fold = accuracy.paired(runs, over="folds")
    assert by_fold.loc["no HEA", "raw: difference"] == "-0.050 ± 0.071"
    assert by_fold.loc["no HEA", "raw: ahead"] == "0 of 2"
    # ridge ran seed 0 only: compared with HyperST's seed 0 (+0.05 on B4, +0.15 on C2), not its seed mean
    assert by_fold.loc["ridge (PCA + RidgeCV)", "raw: difference"] == "+0.100 ± 0.071"


def test_report_keeps_the_last_rerun_and_orders_methods(accuracy, results):
    text = accuracy.report(results)
    per_fold = accuracy.per_fold(results.drop_duplicates(["held_out", "seed", "method"], keep="last"))
    assert per_fold.loc["ridge (PCA + RidgeCV)", "C2"] == pytest.approx(0.45)
    assert list(per_fold.index) == ["ridge (PCA + RidgeCV)", "HyperST", "no HEA"]
    assert "held-out patient (test B4)" in text and "0.450" not in text.split("held-out patient")[1]
    # leave-one-section-out: HyperST over folds (0.55, 0.30) against ridge (0.55, 0.45)
    assert "0.425 ± 0.177" in text and "0.500 ± 0.071" in text


def test_summarise_counts_runs_and_shows_no_spread_for_one(accuracy, results):
    table = accuracy.summarise(results[results["held_out"] == "B4"], "raw", count="seeds")
    assert table.loc["HyperST", "pcc_mean"] == "0.550 ± 0.071"
    assert table.loc["ridge (PCA + RidgeCV)", "pcc_mean"] == "0.550"
    assert table["seeds"].to_dict() == {"ridge (PCA + RidgeCV)": 1, "HyperST": 2, "no HEA": 2}
    assert "pcc@200" not in table  # equals the mean r with 200 genes
