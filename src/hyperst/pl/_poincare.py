"""``hst.pl.poincare``: the four embedding levels of every spot on the Poincaré disk, with their distances."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hyperst._constants import HIERARCHY_PAIRS, STREAMS, Key
from hyperst._docs import doc_params, doc_returns_fig, doc_show_save_ax
from hyperst.data import output_table
from hyperst.pl._poincare_inputs import (
    HIERARCHY_PARENTS,
    Colouring,
    choose_spots,
    hyperbolic_params,
    resolve_colour,
    resolve_streams,
    subsample,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from spatialdata import SpatialData

#: Marker and legend label of each level (the colour is its index in ``OKABE_ITO``).
MARKERS = {"image_spot": "o", "image_niche": "s", "gene_spot": "^", "gene_niche": "D"}
LABELS = {
    "image_spot": "image, spot",
    "image_niche": "image, niche",
    "gene_spot": "gene, spot",
    "gene_niche": "gene, niche",
}


@doc_params(returns_fig=doc_returns_fig, show_save_ax=doc_show_save_ax)
def poincare(
    sdata: SpatialData | AnnData,
    *,
    table_key: str = Key.OUTPUT_TABLE,
    levels: str | Sequence[str] = STREAMS,
    color: str | None = None,
    layer: str = Key.PREDICTED,
    max_points: int | None = 1000,
    links: int | Sequence[int | str] | None = None,
    cones: int | Sequence[int | str] | None = None,
    cone_levels: str | Sequence[str] = ("image_spot",),
    distances: bool = True,
    seed: int = 0,
    size: float | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Draw the image and gene embeddings of spots and niches on the Poincaré disk.

    HyperST orders its four embeddings of a spot in hyperbolic space: generic concepts (image, spot) near the
    origin, specific ones (gene profile, niche) towards the rim. This plot keeps that order exact: every point sits
    at its true hyperbolic distance from the origin (unit-disk radius ``tanh(sqrt(c) d / 2)`` for curvature
    ``-c``). Only its angle is a projection: the embeddings are mapped to the tangent space at the origin (log map)
    and projected onto the two principal directions of one PCA about the origin, fitted on all plotted levels
    together so they share one frame. A side panel shows the distribution of the distance from the origin per
    level, over all spots of the table. Given ``ax``, only the disk (and its colour bar) is drawn there.

    Parameters
    ----------
    sdata
        SpatialData with the table written by :func:`hyperst.tl.predict`, or that table itself (an AnnData).
    table_key
        The table written by :func:`hyperst.tl.predict` (its ``key_added``).
    levels
        Embedding levels to draw, among ``"image_spot"``, ``"image_niche"``, ``"gene_spot"`` and
        ``"gene_niche"`` (obsm ``hyperst_<level>``). Levels the table lacks are skipped (predictions from H&E
        alone have no gene levels); it is an error when none is left.
    color
        ``None``: one colour per level (Okabe–Ito). An obs column: categories get a colour-blind-safe palette and a
        legend, numbers a colour bar. A gene of the table: its ``layer`` values with a colour bar. Levels keep
        their markers.
    layer
        Layer the gene values of ``color`` come from: ``"predicted"`` or ``"observed"``.
    max_points
        Spots drawn at most (drawn at random with ``seed``; the same spots at every level); ``None`` draws all.
    links
        Spots whose embeddings are linked by geodesic segments along the hierarchy (image -> gene at both
        levels, spot -> niche in both modalities): a number of random plotted spots, or row indices / obs names.
        Keep it to a handful.
    cones
        Spots whose entailment cones are drawn at each of ``cone_levels``, as ``links``. Random spots are the
        first of the same random order as ``links``: ``cones=3, links=10`` links the three cone spots too. The
        half-aperture is the true one of the embedding, ``arcsin(2 K / (sqrt(c) ||x||))`` with ``K`` =
        ``entailment_k`` of the model configuration (the loss widens or narrows it by ``eta``); the cone is drawn
        in the 2-D projection, as the two disk geodesics leaving the projected apex at +/- that angle from the
        outward radial direction (angles are conformal on the disk). Children of the apex fall inside the true
        cone; in the projection they fall inside only approximately.
    cone_levels
        Levels at which cones are drawn (parents of the hierarchy: ``"image_spot"``, ``"image_niche"``,
        ``"gene_spot"``).
    distances
        Add the side panel with the distance from the origin per level (not drawn with ``ax``).
    seed
        Seed of the spot subsample and of the random ``links`` / ``cones``.
    size
        Marker area in points^2; default from the number of points.
    figsize
        Size of a new figure; default ``(9.5, 5.5)`` with the side panel, ``(6, 6)`` without.
    {show_save_ax}

    {returns_fig}

    Examples
    --------
    >>> hst.tl.predict(sdata, model)  # doctest: +SKIP
    >>> hst.pl.poincare(sdata, color="section", links=5, cones=5)  # doctest: +SKIP
    >>> hst.pl.poincare(sdata, color="ERBB2", levels=["image_spot", "image_niche"])  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from hyperst.pl._poincare_projection import dist0, poincare_projection
    from hyperst.pl._utils import finish, new_axes

    table = output_table(sdata, table_key)
    curv, config = hyperbolic_params(table, table_key)
    drawn = resolve_streams(table, levels, table_key)
    cone_levels = [cone_levels] if isinstance(cone_levels, str) else list(cone_levels)
    if unknown := [lv for lv in cone_levels if lv not in HIERARCHY_PARENTS]:
        raise ValueError(f"`cone_levels` {unknown} are not parents of the hierarchy; choose from {HIERARCHY_PARENTS}.")
    rows = subsample(table.n_obs, max_points, seed)
    order = np.random.default_rng(seed).permutation(rows)
    link_rows = choose_spots(table, links, order, "links")
    cone_rows = choose_spots(table, cones, order, "cones")
    colouring = None if color is None else resolve_colour(table, color, rows, layer)
    if len(cone_rows) and not set(cone_levels) & set(drawn):
        raise ValueError(f"`cone_levels` {cone_levels} has none of the plotted levels {drawn}; choose among them.")
    if len(cone_rows) and "entailment_k" not in config:
        raise KeyError(f"`cones` need `entailment_k` in uns[{Key.UNS!r}]['config']; run `hst.tl.predict` first.")

    embeddings = {level: np.asarray(table.obsm[Key.embedding(level)]) for level in drawn}
    disk, axes_2d = poincare_projection({level: embeddings[level][rows] for level in drawn}, curv)

    own_figure = ax is None
    if own_figure and distances:
        fig, (ax, side) = plt.subplots(1, 2, figsize=figsize or (9.5, 5.5), width_ratios=(2.2, 1), layout="constrained")
    else:
        fig, ax = new_axes(ax, figsize or (6, 6))
        side = None
    size = size or float(np.clip(6000 / (len(rows) * len(drawn)), 4, 30))
    rings = _draw_disk(ax, curv, max(float(dist0(x, curv).max()) for x in embeddings.values()))
    handles = _draw_points(ax, disk, colouring, size, fig)
    if len(link_rows):
        handles.append(_draw_links(ax, {lv: embeddings[lv][link_rows] for lv in drawn}, curv, axes_2d))
    if len(cone_rows):
        k = float(config["entailment_k"])
        cone_at = [lv for lv in cone_levels if lv in drawn]
        handles += _draw_cones(ax, {lv: embeddings[lv][cone_rows] for lv in cone_at}, curv, k, axes_2d, size)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False, fontsize=8)
    coloured = "" if color is None else f", colour: {color}"
    ax.set_title(
        f"HyperST embeddings on the Poincaré disk (c = {curv:.3g}), {len(rows)} spots{coloured}\n"
        "radius: hyperbolic distance from the origin (exact); angle: tangent-space PCA"
        + (f"\ndotted rings at distance d = {', '.join(f'{d:g}' for d in rings)}" if rings else ""),
        fontsize=9,
    )
    if side is not None:
        _draw_distances(side, {level: dist0(embeddings[level], curv) for level in drawn})
    return finish(fig, show=show, save=save, return_fig=return_fig, own_figure=own_figure)


def _level_colour(level: str) -> str:
    from hyperst.pl._utils import OKABE_ITO

    return OKABE_ITO[STREAMS.index(level)]


def _draw_disk(ax: Axes, curv: float, max_distance: float) -> list[float]:
    """Draw the unit circle and faint circles at round distances from the origin; hide the frame.

    Returns the circles' distances, which the title lists: labels inside the disk would cover the points.
    """
    from matplotlib.patches import Circle
    from matplotlib.ticker import MaxNLocator

    ax.add_patch(Circle((0, 0), 1.0, fill=False, color="black", linewidth=1.0))
    rings = []
    for d in MaxNLocator(nbins=4, steps=[1, 2, 5, 10]).tick_values(0, max_distance)[1:]:
        radius = np.tanh(np.sqrt(curv) * d / 2)
        if radius < 0.995:
            ax.add_patch(Circle((0, 0), radius, fill=False, color="0.8", linewidth=0.6, linestyle=":"))
            rings.append(float(d))
    ax.plot([0], [0], marker="+", color="0.4", markersize=6)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return rings


def _draw_points(ax: Axes, disk: dict[str, np.ndarray], colouring: Colouring | None, size: float, fig: Figure):
    """Draw one scatter per level (labelled with the level) and the colour legend; return the levels' handles."""
    from matplotlib.colors import to_rgba_array
    from matplotlib.lines import Line2D

    from hyperst.pl._utils import EXPRESSION_CMAP

    handles = []
    mappable = None
    for level, xy in disk.items():
        if colouring is None:
            style = {"color": _level_colour(level)}
        elif colouring.categories is not None:
            rgba = to_rgba_array([*colouring.palette, "lightgrey"])  # code -1 (missing) takes the last: grey
            style = {"c": rgba[colouring.values]}
        else:
            style = {"c": colouring.values, "cmap": EXPRESSION_CMAP}
            style["vmin"], style["vmax"] = np.nanmin(colouring.values), np.nanmax(colouring.values)
        mappable = ax.scatter(
            xy[:, 0], xy[:, 1], s=size, marker=MARKERS[level], alpha=0.8, linewidths=0, label=LABELS[level], **style
        )
        marker_colour = _level_colour(level) if colouring is None else "0.3"
        handles.append(Line2D([], [], linestyle="", marker=MARKERS[level], color=marker_colour, label=LABELS[level]))
    if colouring is not None and colouring.categories is not None:
        categories = [
            Line2D([], [], linestyle="", marker="o", color=colour, label=category)
            for category, colour in zip(colouring.categories, colouring.palette, strict=True)
        ]
        if (colouring.values < 0).any():
            categories.append(Line2D([], [], linestyle="", marker="o", color="lightgrey", label="NA"))
        legend = ax.legend(
            handles=categories, title=colouring.label, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False
        )
        ax.add_artist(legend)  # kept when the legend of the levels is added
    elif colouring is not None:
        fig.colorbar(mappable, ax=ax, shrink=0.6, label=colouring.label)
    return handles


def _draw_links(ax: Axes, embeddings: dict[str, np.ndarray], curv: float, axes_2d: np.ndarray):
    """Geodesic segments along the hierarchy's edges between the embeddings of the chosen spots."""
    from matplotlib.collections import LineCollection

    from hyperst.pl._poincare_projection import geodesic_segment, to_disk

    disk = {level: to_disk(x, curv, axes_2d) for level, x in embeddings.items()}
    segments = [
        geodesic_segment(disk[parent][i], disk[child][i])
        for parent, child in HIERARCHY_PAIRS
        if parent in disk and child in disk
        for i in range(len(disk[parent]))
    ]
    lines = LineCollection(segments, colors="0.25", linewidths=0.8, alpha=0.8, zorder=3, label="links of a spot")
    ax.add_collection(lines)
    return lines


def _draw_cones(ax: Axes, apexes: dict[str, np.ndarray], curv: float, k: float, axes_2d: np.ndarray, size: float):
    """Entailment cones (two geodesic rays and the rim between them) at the chosen spots' parent levels."""
    from matplotlib.patches import Polygon

    from hyperst.pl._poincare_projection import cone_outline, half_aperture, to_disk

    handles = []
    for level, x in apexes.items():
        colour = _level_colour(level)
        for apex, aperture in zip(to_disk(x, curv, axes_2d), half_aperture(x, curv, k), strict=True):
            outline = cone_outline(apex, float(aperture))
            ax.add_patch(Polygon(outline, closed=True, facecolor=colour, edgecolor=colour, alpha=0.15, zorder=1))
            ax.plot(outline[:, 0], outline[:, 1], color=colour, linewidth=0.8, zorder=2)
        ax.scatter(
            *to_disk(x, curv, axes_2d).T, s=size * 4, marker=MARKERS[level], color=colour, edgecolors="black", zorder=4
        )
        handles.append(Polygon([[0, 0]], facecolor=colour, alpha=0.3, label=f"cone of {LABELS[level]}"))
    return handles


def _draw_distances(ax: Axes, distances: dict[str, np.ndarray]) -> None:
    """Box plot of the distance from the origin per level, in the levels' colours and markers."""
    levels = list(distances)
    boxes = ax.boxplot([distances[level] for level in levels], patch_artist=True, widths=0.6)
    ax.set_xticks(range(1, len(levels) + 1), [LABELS[level] for level in levels])
    for level, box, fliers in zip(levels, boxes["boxes"], boxes["fliers"], strict=True):
        box.set(facecolor=_level_colour(level), alpha=0.7)
        fliers.set(marker=MARKERS[level], markerfacecolor=_level_colour(level), markeredgecolor="none", markersize=3)
    for median in boxes["medians"]:
        median.set(color="black", gid="median")
    ax.set_ylabel("hyperbolic distance from origin")
    ax.set_title("generic (centre) to specific (rim)", fontsize=9)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.set_ylim(bottom=0)
