"""``hst.pl.cross_validation``: HyperST and its baselines fold by fold, paired, on both scales."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hyperst._constants import BASELINE_CONTROLS, Baseline, Column, Scale, check_choice, choices
from hyperst._docs import doc_params, doc_returns_fig, doc_show_save_ax
from hyperst.pl._utils import OKABE_ITO, finish, new_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SCALE_LABELS = {"raw": "log2(1 + count)", "normalised": "library-size-normalised"}


@doc_params(returns_fig=doc_returns_fig, show_save_ax=doc_show_save_ax)
def cross_validation(
    result: pd.DataFrame,
    *,
    scale: Scale | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Mean r of HyperST and every baseline on each fold, a line per fold joining its methods (a paired plot).

    One panel per scale: ``log2(1 + count)`` and library-size-normalised. A fold's line falling from HyperST to a
    baseline is a fold HyperST wins; black bars mark each method's mean over the folds; the title gives the
    verdict against the best baseline (controls excluded), as :func:`hyperst.tl.cross_validate` logs it.

    Parameters
    ----------
    result
        The table of :func:`hyperst.tl.cross_validate` run with ``baselines=``.
    scale
        ``"raw"`` or ``"normalised"`` to draw one panel; default both.
    figsize
        Size of the figure in inches (ignored with ``ax``).
    {show_save_ax}

    {returns_fig}

    Examples
    --------
    >>> cv = hst.tl.cross_validate(sdata, baselines=("ridge", "knn", "shuffled"))  # doctest: +SKIP
    >>> hst.pl.cross_validation(cv)  # doctest: +SKIP
    """
    import pandas as pd

    if not isinstance(result, pd.DataFrame):
        raise TypeError(f"`result` is the DataFrame `hst.tl.cross_validate` returns, got {type(result).__name__}.")
    methods = [m for m in choices(Baseline) if Column.baseline(m, "raw") in result]
    if not methods:
        raise KeyError(
            "The table has no baseline columns: run `hst.tl.cross_validate(sdata, baselines=('ridge', 'knn', "
            "'shuffled'))` to compare HyperST with them."
        )
    if scale is not None:
        check_choice("scale", scale, Scale)
    elif ax is not None:
        raise ValueError("`ax` draws one panel: pass `scale='raw'` or `scale='normalised'` with it.")
    scales = choices(Scale) if scale is None else (scale,)
    if ax is None:
        import matplotlib.pyplot as plt

        width = 1.3 * (len(methods) + 1) + 1.5
        fig, axes = plt.subplots(1, len(scales), figsize=figsize or (width * len(scales), 4.2), squeeze=False)
        axes = list(axes[0])
    else:
        fig, ax_ = new_axes(ax, figsize)
        axes = [ax_]
    summary = result.attrs.get(Column.BASELINES, {})
    for ax_, panel_scale in zip(axes, scales, strict=True):
        _panel(ax_, result, methods, panel_scale, summary.get(panel_scale, {}).get("verdict"))
    fig.tight_layout()
    return finish(fig, show=show, save=save, return_fig=return_fig, own_figure=ax is None)


def _panel(ax: Axes, result: pd.DataFrame, methods: list[str], scale: Scale, verdict: str | None) -> None:
    """One scale: a line per fold through HyperST and the baselines, the means as bars, the verdict as title."""
    columns = [Column.scaled(Column.PCC, scale)] + [Column.baseline(m, scale) for m in methods]
    names = ["HyperST"] + [f"{m}\n(control)" if m in BASELINE_CONTROLS else m for m in methods]
    values = result[columns].to_numpy(dtype=np.float64)
    x = np.arange(len(columns))
    labels = result["held_out"].astype(str) if "held_out" in result else result.index.astype(str)
    for row, (label, fold) in enumerate(zip(labels, values, strict=True)):
        colour = OKABE_ITO[row % len(OKABE_ITO)]
        ax.plot(x, fold, marker="o", color=colour, alpha=0.8, linewidth=1, markersize=5, label=label)
    means = np.nanmean(values, axis=0)
    ax.hlines(means, x - 0.25, x + 0.25, color="black", linewidth=2.5, label="mean over folds", zorder=3)
    ax.axhline(0.0, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xticks(x, names)
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylabel(f"mean r over the panel ({SCALE_LABELS[scale]})")
    ax.set_title(f"{SCALE_LABELS[scale]}\n{verdict or ''}".strip(), fontsize="small")
    if len(values) <= 12:
        ax.legend(fontsize="x-small", frameon=False, loc="best", title="held out", title_fontsize="x-small")
