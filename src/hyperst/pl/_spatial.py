"""``hst.pl.spatial_genes``: observed | predicted | residual expression of genes on the H&E image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hyperst._constants import Key
from hyperst._docs import doc_params, doc_returns_fig, doc_show_save_ax, doc_table_key_output
from hyperst._logging import logger
from hyperst.data import output_table
from hyperst.pl._spatial_view import OOD, RESIDUAL, SpotView, build_view, plotted_genes, resolve_regions
from hyperst.pl._utils import EXPRESSION_CMAP, OOD_CMAP, RESIDUAL_CMAP, SD_CMAP, finish, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from spatialdata import SpatialData

PANELS = (Key.OBSERVED, Key.PREDICTED, RESIDUAL)
UNCERTAINTY_PANELS = (Key.PREDICTED_SD, OOD)
_SCALE = "log2(1 + count)"
_CMAPS = {RESIDUAL: RESIDUAL_CMAP, Key.PREDICTED_SD: SD_CMAP, OOD: OOD_CMAP}
_ABSENT = {Key.PREDICTED_SD: f"layers[{Key.PREDICTED_SD!r}]", OOD: f"obs[{Key.OOD!r}]"}
_LABELS = {
    RESIDUAL: f"observed - predicted, {_SCALE}",
    Key.PREDICTED_SD: f"sd of the prediction, {_SCALE}",
    OOD: "share of training spots closer",
}


@doc_params(returns_fig=doc_returns_fig, show_save_ax=doc_show_save_ax, table_key=doc_table_key_output)
def spatial_genes(
    sdata: SpatialData,
    genes: str | Sequence[str],
    *,
    table_key: str = Key.OUTPUT_TABLE,
    sections: str | Sequence[str] | None = None,
    panels: str | Sequence[str] | None = None,
    uncertainty: bool = False,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Observed, predicted and residual expression of genes, drawn as spots over the H&E image.

    One row per gene and section, one column per panel: ``observed`` | ``predicted`` | ``residual``
    (observed - predicted). Observed and predicted values of a gene share one colour scale (``viridis``) across
    all its panels and the sections shown, so colours compare directly; the residual uses a diverging map
    (``RdBu_r``) centred at 0 with symmetric limits, also shared per gene. Values are ``log2(1 + count)``, as
    predicted by :func:`hyperst.tl.predict`. The predicted panel's title gives the gene's Pearson r and says over
    which spots: ``(all sections)``, the one of :func:`hyperst.tl.evaluate` (over all measured spots of the table)
    when the table was evaluated, else ``(this section)``, the one of the spots shown in that row. Predictions of H&E-only slides (no ``observed`` layer) show the predicted
    column only. Images (cropped lazily to the spots) and spots are drawn by spatialdata-plot; ``sdata`` is not
    modified. ``ax`` is accepted only for a single panel (one gene, one section, one entry in ``panels``).

    Parameters
    ----------
    sdata
        SpatialData with the H&E image(s), the spots and the table written by :func:`hyperst.tl.predict`.
    genes
        Gene(s) of the model's panel to show, one row (per section) each.
    {table_key}
    sections
        Section(s) to show, by ``obs["section"]`` value or spots element name; default every section the table
        covers.
    panels
        Columns to draw, any of ``"observed"``, ``"predicted"``, ``"residual"``, ``"predicted_sd"``, ``"ood"``;
        default the first three that the table supports (``"predicted"`` only without measured counts).
    uncertainty
        Also draw how sure the prediction is: ``"predicted_sd"`` (the calibrated sd of an ensemble, magma) and
        ``"ood"`` (``obs["hyperst_ood"]``, 0 to 1, white to red: how far the spot's image lies from the training
        spots'), where the table has them (a warning says which one is missing). Spots red in ``ood`` are
        predicted by extrapolation, whatever their sd.
    figsize
        Size of the whole figure in inches; default about 3.6 x 3.3 per panel.
    {show_save_ax}

    {returns_fig}

    Examples
    --------
    >>> hst.tl.predict(sdata, model)  # doctest: +SKIP
    >>> hst.tl.evaluate(sdata)  # doctest: +SKIP
    >>> hst.pl.spatial_genes(sdata, ["ERBB2", "CD74"], sections="C2")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable

    table = _output_table(sdata, table_key)
    genes = plotted_genes(table, genes, table_key)
    regions = resolve_regions(sdata, table, sections, table_key)
    measured = Key.OBSERVED in table.layers
    available = [p for p in UNCERTAINTY_PANELS if p in table.layers or (p == OOD and Key.OOD in table.obs)]
    panels = _resolve_panels(panels, measured, table_key, available)
    if uncertainty:
        if not available:
            raise ValueError(
                f"Table {table_key!r} has neither layers[{Key.PREDICTED_SD!r}] nor obs[{Key.OOD!r}]: predict with a "
                "model fitted by this version (`n_models > 1` for the sd) to plot uncertainty."
            )
        absent = [p for p in UNCERTAINTY_PANELS if p not in available]
        if absent:
            logger.warning(
                "Table %r has no %s: drawing %s only (the sd needs an ensemble, `n_models > 1`, fitted with "
                "validation spots).",
                table_key,
                " or ".join(_ABSENT[p] for p in absent),
                " and ".join(available),
            )
        panels += [p for p in available if p not in panels]
    view = build_view(sdata, table, genes, regions, with_observed=measured, with_uncertainty=bool(available))

    rows = [(gene, region) for gene in genes for region in regions]
    if ax is not None and len(rows) * len(panels) != 1:
        raise ValueError(
            f"`ax=` takes a single panel, but this plot has {len(rows)} row(s) x {len(panels)} panel(s). Pass one "
            "gene, one section and one entry in `panels`, or leave `ax=None` for a new figure."
        )
    if ax is None:
        size = figsize or (3.6 * len(panels) + 0.8, 3.3 * len(rows))
        fig, grid = plt.subplots(len(rows), len(panels), figsize=size, squeeze=False, layout="constrained")
    else:
        fig, ax = new_axes(ax, None)
        grid = np.array([[ax]])

    norms = {gene: _norms(view, gene) for gene in genes}
    for row, (gene, region) in enumerate(rows):
        r = view.pearson(gene, region)
        for column, panel in enumerate(panels):
            norm = norms[gene][panel]
            title = _title(gene, view.section(region), panel, r, pooled=view.pearson_all is not None)
            _draw(view, region, gene, panel, norm, grid[row, column], title)
        for group in _colour_groups(panels):
            cmap = _CMAPS.get(group[0], EXPRESSION_CMAP)
            bar = fig.colorbar(
                ScalarMappable(norms[gene][group[0]], cmap), ax=[grid[row, panels.index(p)] for p in group]
            )
            bar.set_label(_LABELS.get(group[0], _SCALE))
    return finish(fig, show=show, save=save, return_fig=return_fig, own_figure=ax is None)


def _output_table(sdata: SpatialData, table_key: str):
    # the H&E lives in the SpatialData object
    table = output_table(sdata, table_key, allow_anndata=False, function="hst.pl.spatial_genes")
    if Key.PREDICTED not in table.layers:
        raise KeyError(
            f"Table {table_key!r} has no layers[{Key.PREDICTED!r}]; pass the table written by `hst.tl.predict`."
        )
    return table


def _resolve_panels(
    panels: str | Sequence[str] | None, measured: bool, table_key: str, available: list[str]
) -> list[str]:
    if panels is None:
        return list(PANELS) if measured else [Key.PREDICTED]
    panels = [panels] if isinstance(panels, str) else list(panels)
    known = PANELS + UNCERTAINTY_PANELS
    unknown = [p for p in panels if p not in known]
    if unknown or not panels or len(set(panels)) != len(panels):
        raise ValueError(f"`panels={panels!r}`: give distinct entries among {list(known)}.")
    missing = [p for p in panels if p in UNCERTAINTY_PANELS and p not in available]
    if missing:
        raise ValueError(
            f"Table {table_key!r} has no {missing} (the sd needs an ensemble, `n_models > 1`, fitted with validation "
            "spots; the OOD score a model fitted by this version); leave them out of `panels`."
        )
    if not measured and any(p in (Key.OBSERVED, RESIDUAL) for p in panels):
        raise ValueError(
            f"Table {table_key!r} has no layers[{Key.OBSERVED!r}] (an H&E-only prediction), so the 'observed' and "
            f"'residual' panels do not exist; pass `panels='predicted'` or leave `panels=None`."
        )
    return [p for p in known if p in panels]  # fixed order: observed | predicted | residual | sd | ood


def _norms(view: SpotView, gene: str) -> dict[str, Normalize]:
    """One colour scale per gene: observed and predicted share limits; the residual's are symmetric about 0."""
    from matplotlib.colors import Normalize

    expression = view.values(gene, Key.PREDICTED)
    if view.with_observed:
        expression = np.concatenate([expression, view.values(gene, Key.OBSERVED)])
    expression = expression[np.isfinite(expression)]
    low, high = (float(expression.min()), float(expression.max())) if expression.size else (0.0, 1.0)
    norms = {Key.OBSERVED: Normalize(low, high), Key.PREDICTED: Normalize(low, high), OOD: Normalize(0.0, 1.0)}
    if Key.PREDICTED_SD in view.layers:
        sd = view.values(gene, Key.PREDICTED_SD)
        norms[Key.PREDICTED_SD] = Normalize(0.0, float(np.nanmax(sd)) if np.isfinite(sd).any() else 1.0)
    if view.with_observed:
        residual = np.abs(view.values(gene, RESIDUAL))
        limit = float(np.nanmax(residual)) if np.isfinite(residual).any() else 0.0
        limit = limit if limit > 0 else 1.0
        norms[RESIDUAL] = Normalize(-limit, limit)
    return norms


def _colour_groups(panels: list[str]) -> list[list[str]]:
    """Panels sharing a colour bar: observed with predicted, then each other panel on its own."""
    expression = [p for p in panels if p in (Key.OBSERVED, Key.PREDICTED)]
    return [group for group in [expression] + [[p] for p in panels if p not in expression] if group]


def _title(gene: str, section: str, panel: str, r: float | None, *, pooled: bool = False) -> str:
    """Return a panel's title; the predicted panel's r says its spots: all evaluated ones, or this section's."""
    if panel == Key.OBSERVED:
        return f"{gene} observed ({section})"
    if panel == RESIDUAL:
        return f"{gene} residual ({section})"
    if panel == Key.PREDICTED_SD:
        return f"{gene} sd ({section})"
    if panel == OOD:
        return f"out of distribution ({section})"
    where = "all sections" if pooled else "this section"
    correlation = "" if r is None else (", r = n/a" if not np.isfinite(r) else f", r = {r:.2f} ({where})")
    return f"{gene} predicted ({section}){correlation}"


def _draw(view: SpotView, region: str, gene: str, panel: str, norm: Normalize, ax: Axes, title: str) -> None:
    import spatialdata_plot  # noqa: F401  (registers the `.pl` accessor)

    cmap = _CMAPS.get(panel, EXPRESSION_CMAP)
    # spatialdata-plot renders the image (any scale, multiscale aware) and the spots coloured from the table
    # layer; colour bars are drawn per row by `spatial_genes`, shared across the panels of one gene.
    (
        view.views[region]
        .pl.render_images(view.image_key(region))
        .pl.render_shapes(
            region, color=gene, table_name=view.table_name, table_layer=panel, cmap=cmap, norm=norm, colorbar=False
        )
        .pl.show(ax=ax, coordinate_systems=view.coordinate_system(region), title=title, colorbar=False, show=False)
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
