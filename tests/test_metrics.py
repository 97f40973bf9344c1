from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hyperst import metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    observed = np.log2(1 + rng.poisson(5, (60, 12)).astype(float))
    predicted = observed + rng.normal(0, 0.5, observed.shape)
    return observed, predicted


def test_per_gene_matches_scipy(pair):
    observed, predicted = pair
    table = metrics.per_gene_metrics(observed, predicted, [f"g{i}" for i in range(12)])
    for j in range(12):
        assert table["pearson"].iloc[j] == pytest.approx(stats.pearsonr(observed[:, j], predicted[:, j])[0])
        assert table["spearman"].iloc[j] == pytest.approx(stats.spearmanr(observed[:, j], predicted[:, j])[0])
    np.testing.assert_allclose(table["mse"], ((observed - predicted) ** 2).mean(0))
    np.testing.assert_allclose(table["mae"], np.abs(observed - predicted).mean(0))
    assert list(table.index[:2]) == ["g0", "g1"]


def test_perfect_and_constant_predictions(pair):
    observed, _ = pair
    genes = list(range(12))
    perfect = metrics.per_gene_metrics(observed, observed, genes)
    summary = metrics.summary_metrics(perfect, observed, observed)
    assert summary["pcc_mean"] == pytest.approx(1.0)
    assert summary["mse"] == 0 and summary["rvd"] == 0

    constant = np.repeat(observed.mean(0, keepdims=True), len(observed), axis=0)
    flat = metrics.per_gene_metrics(observed, constant, genes)
    assert flat["pearson"].isna().all()
    summary = metrics.summary_metrics(flat, observed, constant)
    assert np.isnan(summary["pcc_mean"]) and summary["n_genes_with_r"] == 0
    assert summary["rvd"] == pytest.approx(1.0)


def test_top_k_is_mean_of_best_genes():
    rng = np.random.default_rng(1)
    observed = rng.normal(size=(100, 60))
    noise = np.linspace(0.1, 5, 60)
    predicted = observed + rng.normal(size=observed.shape) * noise
    per_gene = metrics.per_gene_metrics(observed, predicted, range(60))
    summary = metrics.summary_metrics(per_gene, observed, predicted)
    r = np.sort(per_gene["pearson"].to_numpy())[::-1]
    assert summary["pcc@10"] == pytest.approx(r[:10].mean())
    assert summary["pcc@50"] == pytest.approx(r[:50].mean())
    assert np.isnan(summary["pcc@200"])  # fewer than 200 genes: undefined, not silently the mean
    assert summary["pcc@10"] > summary["pcc@50"] > summary["pcc_mean"] - 1e-12


def test_normalisation_removes_depth():
    rng = np.random.default_rng(2)
    counts = rng.poisson(rng.gamma(2, 5, (50, 20)))
    depth = rng.uniform(0.3, 3, (50, 1))
    observed = np.log2(1 + counts)
    predicted = np.log2(1 + counts * depth)  # right composition, wrong depth
    raw = metrics.per_gene_metrics(observed, predicted, range(20))
    observed_norm, predicted_norm = metrics.normalise_panel(observed), metrics.normalise_panel(predicted)
    normalised = metrics.per_gene_metrics(observed_norm, predicted_norm, range(20))
    assert raw["mse"].mean() > 0.3
    np.testing.assert_allclose(observed_norm, predicted_norm, atol=1e-9)
    assert normalised["pearson"].min() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("observed", "predicted", "match"),
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), "one shape"),
        (np.zeros((1, 3)), np.zeros((1, 3)), "at least 2 spots"),
        (np.full((4, 2), np.nan), np.zeros((4, 2)), "finite"),
    ],
)
def test_bad_input(observed, predicted, match):
    with pytest.raises(ValueError, match=match):
        metrics.per_gene_metrics(observed, predicted, range(observed.shape[1]))


def test_observed_draws_of_a_very_wide_sd_do_not_overflow():
    # The calibration's bisection tries sds up to 100 times the members'; a level of 2^1000 once broke Poisson sampling.
    mean, sd = np.full((3, 2), 5.0), np.full((3, 2), 300.0)
    draws = metrics.observed_draws(mean, sd, np.array([0.5, 1.0, 20.0]), scale="raw", draws=50)
    assert draws.shape == (3, 2, 50) and np.isfinite(draws).all()
    assert draws.max() <= metrics.MAX_LOG2_LEVEL + np.log2(20.0) + 1
