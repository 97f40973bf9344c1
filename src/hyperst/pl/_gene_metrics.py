"""``hst.pl.gene_metrics``: per-gene accuracy against mean expression, best and worst genes labelled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hyperst._constants import Key
from hyperst._docs import doc_params, doc_returns_fig, doc_show_save_ax, doc_table_key_output
from hyperst.data import output_table
from hyperst.metrics import PER_GENE
from hyperst.pl._utils import OKABE_ITO, finish, new_axes

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from spatialdata import SpatialData

METRIC_LABELS = {"pearson": "Pearson r", "spearman": "Spearman ρ", "mse": "MSE", "mae": "MAE"}
_SCALE = "log2(1 + count)"


@doc_params(returns_fig=doc_returns_fig, show_save_ax=doc_show_save_ax, table_key=doc_table_key_output)
def gene_metrics(
    sdata: SpatialData | AnnData,
    *,
    table_key: str = Key.OUTPUT_TABLE,
    metric: str = "pearson",
    normalised: bool = False,
    n_labels: int = 5,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Scatter of a per-gene metric of :func:`hyperst.tl.evaluate` against the gene's mean observed expression.

    Shows whether the model predicts only the highly expressed genes well. The ``n_labels`` genes with the
    highest and the ``n_labels`` with the lowest value are named; a dashed line marks the mean over the whole
    (fixed) panel, the honest summary (the top-k means of the paper pick genes after seeing the test data).

    Parameters
    ----------
    sdata
        SpatialData holding the evaluated output table (or that AnnData table itself).
    {table_key}
    metric
        Per-gene metric: ``"pearson"``, ``"spearman"``, ``"mse"`` or ``"mae"``.
    normalised
        Use the metric on library-size-normalised values (the ``_norm`` columns) instead of ``log2(1 + count)``.
        The x axis stays the mean observed ``log2(1 + count)``.
    n_labels
        Genes labelled at each end (highest and lowest values); ``0`` labels none.
    figsize
        Size of the figure in inches (ignored with ``ax``).
    {show_save_ax}

    {returns_fig}

    Examples
    --------
    >>> hst.tl.evaluate(sdata)  # doctest: +SKIP
    >>> hst.pl.gene_metrics(sdata, n_labels=8)  # doctest: +SKIP
    >>> hst.pl.gene_metrics(sdata, metric="spearman", normalised=True)  # doctest: +SKIP
    """
    table = output_table(sdata, table_key)
    if metric not in PER_GENE:
        raise ValueError(f"`metric={metric!r}` is not a per-gene metric; choose among {list(PER_GENE)}.")
    if isinstance(n_labels, bool) or not isinstance(n_labels, int | np.integer) or n_labels < 0:
        raise ValueError(f"`n_labels={n_labels!r}` must be a non-negative integer.")
    column = f"{metric}_norm" if normalised else metric
    if column not in table.var:
        raise KeyError(
            f"Table {table_key!r} has no per-gene {column!r} in `var`; run `hst.tl.evaluate(sdata)` first "
            "(it needs the measured counts in layers['observed'])."
        )
    if Key.OBSERVED not in table.layers:
        raise KeyError(f"Table {table_key!r} has no layers[{Key.OBSERVED!r}]: there is no observed expression.")

    values = table.var[column].to_numpy(dtype=np.float64)
    mean_expression = _mean_observed(table.layers[Key.OBSERVED])
    shown = np.isfinite(values) & np.isfinite(mean_expression)
    fig, ax_ = new_axes(ax, figsize or (5.5, 4.5))
    label = METRIC_LABELS[metric]

    ax_.scatter(mean_expression[shown], values[shown], s=14, color=OKABE_ITO[5], alpha=0.7, linewidths=0)
    panel_mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    ax_.axhline(panel_mean, color=OKABE_ITO[7], linestyle="--", linewidth=1, label=f"panel mean {panel_mean:.3f}")
    _label_extremes(ax_, table.var_names.to_numpy()[shown], mean_expression[shown], values[shown], n_labels)

    scale = "library-size-normalised values" if normalised else _SCALE
    ax_.set_title(f"Per-gene {label} ({scale})\nagainst mean expression, {int(shown.sum())} genes")
    ax_.set_xlabel(f"mean observed {_SCALE}")
    ax_.set_ylabel(label)
    ax_.legend(fontsize="small", frameon=False, loc="best")
    return finish(fig, show=show, save=save, return_fig=return_fig, own_figure=ax is None)


def _mean_observed(observed) -> np.ndarray:
    """Mean per gene over the measured (finite) spots; NaN for a gene measured nowhere."""
    observed = np.asarray(observed.toarray() if hasattr(observed, "toarray") else observed, dtype=np.float64)
    measured = np.isfinite(observed)
    counts = measured.sum(axis=0)
    totals = np.where(measured, observed, 0.0).sum(axis=0)
    return np.divide(totals, counts, out=np.full(observed.shape[1], np.nan), where=counts > 0)


def _label_extremes(ax: Axes, genes: np.ndarray, x: np.ndarray, y: np.ndarray, n: int) -> None:
    """Name the ``n`` genes with the highest and lowest ``y``; labels are spread vertically so they do not overlap."""
    order = np.argsort(y, kind="stable")
    highest, lowest = list(order[::-1][:n]), list(order[:n])
    lowest = [r for r in lowest if r not in highest]  # small panels: name each gene once
    groups = [
        (rows, colour, name)
        for rows, colour, name in ((highest, OKABE_ITO[2], "highest"), (lowest, OKABE_ITO[3], "lowest"))
        if rows
    ]
    for rows, colour, name in groups:
        ax.scatter(x[rows], y[rows], s=22, color=colour, label=f"{name} {len(rows)}", zorder=3)
    ax.autoscale_view()  # final data limits, so that label offsets in points are measured on them
    to_points = 72.0 / ax.figure.dpi
    (_, bottom), (right_edge, top) = ax.transAxes.transform([(0.0, 0.0), (0.75, 1.0)]) * to_points
    gap = 9.0  # points between label centres: x-small text is about 8 points high
    for rows, colour, _ in groups:
        anchor = ax.transData.transform(np.column_stack([x[rows], y[rows]])) * to_points
        text_ys = _spread(anchor[:, 1], gap=gap, bounds=(bottom + gap / 2, top - gap / 2))
        for row, (ax_x, ax_y), text_y in zip(rows, anchor, text_ys, strict=True):
            left = ax_x > right_edge  # near the right edge: put the label on the left of its point
            ax.annotate(
                str(genes[row]),
                (x[row], y[row]),
                xytext=(-6 if left else 6, text_y - ax_y),
                textcoords="offset points",
                ha="right" if left else "left",
                va="center",
                fontsize="x-small",
                color=colour,
                arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.5, "shrinkA": 0, "shrinkB": 2},
            )


def _spread(positions: np.ndarray, *, gap: float, bounds: tuple[float, float] | None = None) -> np.ndarray:
    """Move positions apart to at least ``gap`` each, keeping their order and mean (a cheap 1-D label repel).

    With ``bounds``, the group is then shifted to lie within them where it fits.
    """
    order = np.argsort(positions, kind="stable")
    placed = positions[order].astype(float)
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    placed -= (placed - positions[order]).mean()
    if bounds is not None and len(placed):
        placed -= max(placed[-1] - bounds[1], 0.0)  # below the top ...
        placed += max(bounds[0] - placed[0], 0.0)  # ... and above the bottom, which wins when both cannot hold
    out = np.empty_like(placed)
    out[order] = placed
    return out
