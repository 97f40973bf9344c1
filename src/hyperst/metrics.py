"""Accuracy metrics of predicted expression: plain numpy kernels on ``(spots, genes)`` matrices.

Inputs are ``log2(1 + count)`` values of raw or library-size-normalised counts. ``tl.evaluate`` pulls the
matrices out of the output table and writes the results back; everything here is container-free so benchmarks and
baselines reuse it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

TOP_K = (10, 50, 200)
# Counts per spot after library-size normalisation on the scored scale: one fixed value, so that scores of test sets
# of different depth are comparable (scanpy's customary ``normalize_total(target_sum=1e4)``).
TARGET_SUM = 1e4
PER_GENE = ("pearson", "spearman", "mse", "mae")
OBSERVED_DRAWS = 200  # simulated measurements per spot and gene (observed_draws)
MAX_LOG2_LEVEL = 40.0  # highest expected log2(1 + count) observed_draws samples from (2^40: beyond any count)
DRAW_CHUNK = 20_000_000  # simulated values held at once (160 MB)


def per_gene_metrics(observed: np.ndarray, predicted: np.ndarray, genes: list[str] | pd.Index) -> pd.DataFrame:
    """Pearson r, Spearman rho, MSE and MAE of every gene (column) over the spots (rows).

    A gene that is constant in the observed or the predicted values has no defined correlation: its r and rho
    are NaN, and the summaries skip it (they report how many genes they used).
    """
    observed, predicted = _check_pair(observed, predicted)
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson = _pearson_columns(observed, predicted)
        spearman = _pearson_columns(stats.rankdata(observed, axis=0), stats.rankdata(predicted, axis=0))
    return pd.DataFrame(
        {
            "pearson": pearson,
            "spearman": spearman,
            "mse": ((observed - predicted) ** 2).mean(axis=0),
            "mae": np.abs(observed - predicted).mean(axis=0),
        },
        index=pd.Index(genes, name="gene"),
    )


def summary_metrics(per_gene: pd.DataFrame, observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Panel summaries: fixed-panel mean r, PCC@k (post hoc top-k genes by test r), MSE, MAE and RVD.

    ``pcc_mean`` averages r over every gene of the panel: the honest number. ``pcc@k`` is the paper's metric, the
    mean of the k highest test correlations; it picks genes after seeing the test data and is optimistic by
    construction. ``rvd`` (relative variance difference) is the mean over genes of
    ``(var_pred - var_obs)**2 / var_obs**2``: 0 when the prediction keeps each gene's spread, 1 for a constant
    prediction, so it exposes models that regress to the mean.
    """
    r = per_gene["pearson"].to_numpy()
    finite = np.sort(r[np.isfinite(r)])[::-1]
    summary = {"pcc_mean": _mean(finite), "n_genes_with_r": int(finite.size)}
    for k in TOP_K:
        summary[f"pcc@{k}"] = _mean(finite[:k]) if finite.size >= k else float("nan")
    summary["mse"] = float(per_gene["mse"].mean())
    summary["mae"] = float(per_gene["mae"].mean())
    var_observed, var_predicted = observed.var(axis=0), predicted.var(axis=0)
    varies = var_observed > 0
    summary["rvd"] = _mean((var_predicted[varies] - var_observed[varies]) ** 2 / var_observed[varies] ** 2)
    return summary


def normalise_panel(log_expression: np.ndarray, target_sum: float = TARGET_SUM) -> np.ndarray:
    """Library-size normalise over the panel: ``log2(1 + target_sum * count / panel total)`` per spot.

    Raw ``log2(1 + count)`` correlations are dominated by how many cells (and reads) a spot holds. Comparing each
    spot's composition over the panel, observed and predicted each scaled by their own total, asks whether the
    model knows *which* genes a spot expresses rather than how dense the tissue is.
    """
    counts = np.expm1(np.asarray(log_expression, dtype=np.float64) * np.log(2)).clip(min=0)
    totals = counts.sum(axis=1, keepdims=True)
    scaled = np.divide(counts * target_sum, totals, out=np.zeros_like(counts), where=totals > 0)
    return np.log2(1 + scaled)


def score(
    observed: np.ndarray,
    predicted: np.ndarray,
    genes: list[str] | pd.Index,
    *,
    normalised_observed: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Per-gene metrics and panel summaries, on ``log2(1 + count)`` and on a library-size-normalised scale.

    ``normalised_observed`` gives the observations normalised by each spot's library size over all genes to
    :data:`TARGET_SUM` counts (the field's convention, scanpy's ``normalize_total``; :func:`hyperst.data.expression`
    with ``reference=TARGET_SUM``): the prediction is scored
    against them as it is, so a model must get each spot's composition right and the depth it predicts counts as
    noise. Without them, observed and predicted are each normalised over the panel (:func:`normalise_panel`), the
    fallback when the library sizes are unknown.

    Returns
    -------
    ``(per_gene, summary)``: per-gene columns ``pearson``, ``spearman``, ``mse``, ``mae`` and the same with suffix
    ``_norm``; ``summary = {"raw": ..., "normalised": ...}`` with the keys of :func:`summary_metrics`.
    """
    raw = per_gene_metrics(observed, predicted, genes)
    if normalised_observed is None:
        observed_norm, predicted_norm = normalise_panel(observed), normalise_panel(predicted)
    else:
        observed_norm, predicted_norm = np.asarray(normalised_observed, dtype=np.float64), predicted
    normalised = per_gene_metrics(observed_norm, predicted_norm, genes)
    summary = {
        "raw": summary_metrics(raw, observed, predicted),
        "normalised": summary_metrics(normalised, observed_norm, predicted_norm),
    }
    return raw.join(normalised.add_suffix("_norm")), summary


def uncertainty_metrics(
    observed: np.ndarray, predicted: np.ndarray, sd: np.ndarray, genes: list[str] | pd.Index, *, z: float
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per gene, the interval's coverage and the rank correlation of the sd with the absolute error.

    ``coverage``: the share of spots with ``|observed - predicted| <= z x sd`` (0.9 is the goal for ``z = 1.645``);
    ``sd_error_spearman``: Spearman's rho between ``sd`` and ``|observed - predicted|`` over the spots (a constant
    sd scores 0; higher means the sd ranks the spots by how wrong they are). The summary averages both over genes.
    """
    observed, predicted = _check_pair(observed, predicted)
    error = np.abs(observed - predicted)
    sd = np.asarray(sd, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = _pearson_columns(stats.rankdata(sd, axis=0), stats.rankdata(error, axis=0))
    per_gene = pd.DataFrame(
        {"coverage": (error <= z * sd).mean(axis=0), "sd_error_spearman": rho}, index=pd.Index(genes, name="gene")
    )
    summary = {
        "coverage": float(per_gene["coverage"].mean()),
        "coverage_min_gene": float(per_gene["coverage"].min()),
        "sd_error_spearman": _mean(rho[np.isfinite(rho)]),
    }
    return per_gene, summary


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    constant = (np.ptp(a, axis=0) == 0) | (np.ptp(b, axis=0) == 0)  # exact test: centring leaves rounding noise
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denominator = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    r = (a * b).sum(axis=0) / np.where(constant, 1.0, denominator)
    return np.where(constant, np.nan, r)


def _check_pair(observed: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    observed = np.asarray(observed, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if observed.shape != predicted.shape or observed.ndim != 2:
        raise ValueError(
            f"observed and predicted must be (spots, genes) matrices of one shape, got {observed.shape} and "
            f"{predicted.shape}."
        )
    if observed.shape[0] < 2:
        raise ValueError(f"Metrics need at least 2 spots, got {observed.shape[0]}.")
    if not (np.isfinite(observed).all() and np.isfinite(predicted).all()):
        raise ValueError("observed and predicted must be finite; found NaN or infinite values.")
    return observed, predicted


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if np.size(values) else float("nan")


def observed_draws(
    mean: np.ndarray,
    sd: np.ndarray,
    depth: np.ndarray,
    *,
    scale: str,
    draws: int = OBSERVED_DRAWS,
    seed: int = 0,
) -> np.ndarray:
    """``(n, n_genes, draws)`` values a measurement at each spot's depth could show, on the model's scale.

    The expected expression ``log2(1 + mu)`` at the reference depth is ``N(mean, sd^2)`` (the prediction and its
    sd); the count is ``Poisson(mu x depth)``, ``depth`` being the spot's library size over the reference library
    size (``(n,)``); it is shown as ``log2(1 + count)`` (``scale="raw"``) or ``log2(1 + count / depth)``
    (``"normalised"``). A spot sequenced 15 times shallower than the training spots mostly shows zeros where the
    expected expression is low: the values it can show, not the expected expression, are what its measurement is
    compared with.
    """
    mean, sd = np.asarray(mean, dtype=np.float64), np.asarray(sd, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)[:, None, None]
    rng = np.random.default_rng(seed)
    level = mean[..., None] + sd[..., None] * rng.standard_normal((*mean.shape, draws))
    # The calibration's bisection tries sds up to 100 times the members': cap the expected count far beyond any
    # measured one (2^40) so that Poisson sampling never overflows.
    counts = rng.poisson(np.clip(np.exp2(np.minimum(level, MAX_LOG2_LEVEL)) - 1.0, 0.0, None) * depth)
    return np.log2(1.0 + (counts if scale == "raw" else counts / depth))


def in_interval(observed: np.ndarray, simulated: np.ndarray, coverage: float) -> np.ndarray:
    """``(n, n_genes)``: whether each measured value lies in the central ``coverage`` of its simulated values.

    ``simulated`` is ``(n, n_genes, draws)`` (:func:`observed_draws`).
    """
    low, high = np.quantile(simulated, [(1 - coverage) / 2, (1 + coverage) / 2], axis=-1)
    return (observed >= low) & (observed <= high)


def observed_interval_metrics(
    observed: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    depth: np.ndarray,
    genes: list[str] | pd.Index,
    *,
    scale: str,
    coverage: float,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per gene, coverage and sd-error rank correlation of intervals for measured values at each spot's depth.

    ``coverage``: how often the measured value lies in the central ``coverage`` interval of
    :func:`observed_draws`; ``sd_error_spearman``: Spearman's rho between that distribution's sd and the distance of
    the measurement from its mean. The summary averages both over genes, as :func:`uncertainty_metrics` does.
    """
    observed, mean = _check_pair(observed, mean)
    sd, depth = np.asarray(sd, dtype=np.float64), np.asarray(depth, dtype=np.float64)
    covered, spread, error = (np.empty(observed.shape) for _ in range(3))
    step = max(1, DRAW_CHUNK // (observed.shape[1] * OBSERVED_DRAWS))
    for start in range(0, len(observed), step):
        rows = slice(start, start + step)
        simulated = observed_draws(mean[rows], sd[rows], depth[rows], scale=scale, seed=seed + start)
        covered[rows] = in_interval(observed[rows], simulated, coverage)
        spread[rows], error[rows] = simulated.std(axis=-1), np.abs(observed[rows] - simulated.mean(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = _pearson_columns(stats.rankdata(spread, axis=0), stats.rankdata(error, axis=0))
    per_gene = pd.DataFrame(
        {"coverage": covered.mean(axis=0), "sd_error_spearman": rho}, index=pd.Index(genes, name="gene")
    )
    summary = {
        "coverage": float(per_gene["coverage"].mean()),
        "coverage_min_gene": float(per_gene["coverage"].min()),
        "sd_error_spearman": _mean(rho[np.isfinite(rho)]),
    }
    return per_gene, summary
