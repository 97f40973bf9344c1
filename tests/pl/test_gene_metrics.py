"""``hst.pl.gene_metrics``: per-gene metric against mean expression, extremes labelled, every option.

Image comparison: ``test_matches_baseline_image`` draws a hand-built evaluated table (no training involved) and
compares it with ``tests/pl/_images/gene_metrics.png``. After an intended change of the plot, regenerate the
baseline with ``HYPERST_UPDATE_IMAGES=1 .venv/bin/python -m pytest tests/pl/test_gene_metrics.py`` and look at the
new image before committing it.
"""

from __future__ import annotations

import warnings

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
import spatialdata

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import hyperst as hst
from hyperst.pl._gene_metrics import METRIC_LABELS, _spread

N_GENES, N_SPOTS = 24, 40


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _evaluated_table() -> ad.AnnData:
    """A deterministic evaluated output table: known mean expression and metrics per gene, one gene without r."""
    genes = [f"GENE{i:02d}" for i in range(N_GENES)]
    spots, idx = np.arange(N_SPOTS)[:, None], np.arange(N_GENES)[None, :]
    means = np.linspace(0.5, 6.0, N_GENES)
    observed = means + 0.5 * np.cos(spots + 3 * idx)  # mean over spots close to `means`, not equal
    observed[0, 3] = np.nan  # an unmeasured value is skipped, not propagated
    predicted = observed * 0.5
    var = pd.DataFrame(
        {
            "pearson": 0.35 + 0.4 * np.sin(1.7 * np.arange(N_GENES)),
            "spearman": 0.3 + 0.3 * np.cos(np.arange(N_GENES)),
            "mse": np.linspace(0.2, 3.0, N_GENES),
            "mae": np.linspace(0.1, 1.0, N_GENES),
        },
        index=genes,
    )
    for column in list(var):
        var[f"{column}_norm"] = var[column] * 0.8
    var.loc["GENE07", "pearson"] = np.nan  # constant gene: no correlation
    table = ad.AnnData(X=predicted.astype(np.float32), var=var)
    table.layers["predicted"] = predicted.astype(np.float32)
    table.layers["observed"] = observed.astype(np.float32)
    return table


def _expected_mean(table: ad.AnnData) -> pd.Series:
    return pd.Series(np.nanmean(np.asarray(table.layers["observed"], dtype=np.float64), axis=0), table.var_names)


def _labels(ax) -> dict[str, str]:
    """Label text -> colour of every gene name drawn."""
    return {t.get_text(): t.get_color() for t in ax.texts}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("metric", list(METRIC_LABELS))
@pytest.mark.parametrize("normalised", [False, True])
def test_points_labels_and_mean_line(metric, normalised):
    table = _evaluated_table()
    column = f"{metric}_norm" if normalised else metric
    fig = hst.pl.gene_metrics(table, metric=metric, normalised=normalised, n_labels=3, return_fig=True)
    (ax,) = fig.axes
    values, means = table.var[column], _expected_mean(table)
    finite = values.dropna()
    # every gene with a value is one point at (mean observed expression, metric)
    (points, *_) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([means[finite.index], finite]), rtol=1e-6)
    # the 3 highest and 3 lowest genes are named, in two colours
    labels = _labels(ax)
    highest, lowest = finite.nlargest(3).index, finite.nsmallest(3).index
    assert set(labels) == {*highest, *lowest}
    assert len({labels[g] for g in highest}) == 1 and len({labels[g] for g in lowest}) == 1
    assert labels[highest[0]] != labels[lowest[0]]
    # the fixed-panel mean line
    (mean_line,) = [line for line in ax.get_lines() if line.get_label().startswith("panel mean")]
    np.testing.assert_allclose(mean_line.get_ydata(), [finite.mean()] * 2)
    title = ax.get_title()
    assert METRIC_LABELS[metric] in title and f"{len(finite)} genes" in title
    assert ("normalised" in title) == normalised and ("log2(1 + count)" in title) != normalised
    assert ax.get_xlabel() == "mean observed log2(1 + count)"


@pytest.mark.filterwarnings("error")
def test_labels_do_not_overlap():
    fig = hst.pl.gene_metrics(_evaluated_table(), n_labels=6, return_fig=True)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].texts]
    assert len(boxes) == 12
    overlaps = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]
    assert not overlaps
    inside = fig.axes[0].get_window_extent()
    assert all(inside.y0 <= box.y0 and box.y1 <= inside.y1 for box in boxes)  # labels stay within the axes height


def test_spread_keeps_order_and_gap():
    positions = np.array([10.0, 11.0, 11.5, 40.0, 9.0])
    spread = _spread(positions, gap=5.0)
    assert np.all(np.diff(spread[np.argsort(positions)]) >= 5.0 - 1e-9)
    assert np.argsort(spread).tolist() == np.argsort(positions).tolist()
    np.testing.assert_allclose(spread.mean(), positions.mean())
    bounded = _spread(positions, gap=5.0, bounds=(6.0, 40.0))  # centred, the lowest would sit at 4.1
    assert (
        bounded.min() >= 6.0 and bounded.max() <= 40.0 and np.all(np.diff(bounded[np.argsort(positions)]) >= 5.0 - 1e-9)
    )


@pytest.mark.filterwarnings("error")
def test_options(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    table = _evaluated_table()
    sdata = spatialdata.SpatialData(tables={"preds": table})
    before = plt.get_fignums()
    assert hst.pl.gene_metrics(sdata, table_key="preds", save=tmp_path / "m.svg", show=False) is None
    assert plt.get_fignums() == before and not shown  # neither returned nor shown: closed
    assert b"<svg" in (tmp_path / "m.svg").read_bytes()[:500]

    fig = hst.pl.gene_metrics(table, n_labels=0, figsize=(3, 2), return_fig=True)
    assert not fig.axes[0].texts and tuple(fig.get_size_inches()) == (3, 2)
    fig = hst.pl.gene_metrics(table, n_labels=100, return_fig=True)  # more than the genes: each named once
    assert len(fig.axes[0].texts) == N_GENES - 1

    fig, ax = plt.subplots()
    assert hst.pl.gene_metrics(table, ax=ax) is None
    assert ax.get_title().startswith("Per-gene Pearson r") and plt.fignum_exists(fig.number)
    assert not shown  # drawn on the caller's axes: not shown
    assert hst.pl.gene_metrics(table) is None and shown == [True]  # shown by default


def test_evaluated_prediction_table(predicted_sdata):
    table = predicted_sdata.tables["hyperst"]
    with warnings.catch_warnings():  # errors in the body only: the shared fixture may be built during setup
        warnings.simplefilter("error")
        fig = hst.pl.gene_metrics(predicted_sdata, n_labels=2, return_fig=True)
    labels = _labels(fig.axes[0])
    assert set(labels) == {*table.var["pearson"].nlargest(2).index, *table.var["pearson"].nsmallest(2).index}
    (mean_line,) = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("panel mean")]
    pcc_mean = table.uns["hyperst"]["metrics"]["raw"]["pcc_mean"]
    np.testing.assert_allclose(mean_line.get_ydata()[0], pcc_mean, rtol=1e-6)  # the fixed-panel mean of evaluate


def test_bad_inputs(predicted_sdata):
    with pytest.raises(KeyError, match=r"hst\.tl\.predict"):
        hst.pl.gene_metrics(predicted_sdata, table_key="missing")
    with pytest.raises(ValueError, match="choose among"):
        hst.pl.gene_metrics(predicted_sdata, metric="r2")
    for n_labels in (-1, 2.5, True):
        with pytest.raises(ValueError, match="n_labels"):
            hst.pl.gene_metrics(predicted_sdata, n_labels=n_labels)
    table = predicted_sdata.tables["hyperst"].copy()
    table.var = table.var[[]]
    with pytest.raises(KeyError, match=r"hst\.tl\.evaluate"):
        hst.pl.gene_metrics(table)
    table = _evaluated_table()
    del table.layers["observed"]
    with pytest.raises(KeyError, match="observed"):
        hst.pl.gene_metrics(table)


@pytest.mark.filterwarnings("error")
def test_matches_baseline_image(matches_baseline):
    matches_baseline(
        lambda: hst.pl.gene_metrics(_evaluated_table(), n_labels=4, figsize=(6, 4.5), return_fig=True), "gene_metrics"
    )
