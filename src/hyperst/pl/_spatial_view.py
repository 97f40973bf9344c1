"""Lightweight SpatialData objects for plotting predictions.

Per section: the user's image and spots elements (shared, not copied) and a small table with the observed,
predicted and residual values of the genes shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hyperst._constants import Key
from hyperst.data import check_genes, table_keys

if TYPE_CHECKING:
    from anndata import AnnData
    from spatialdata import SpatialData

RESIDUAL = "residual"
OOD = "ood"  # panel of obs["hyperst_ood"], drawn as a layer of the plotting table (the same value for every gene)
PLOT_TABLE = "hyperst_plot"


@dataclass(frozen=True)
class SpotView:
    """What the spatial plots draw: per spots element a SpatialData with only its image, spots and values."""

    views: dict[str, SpatialData]  # spots element -> its image, spots and plotting table
    images: dict[str, str]  # spots element -> image element
    systems: dict[str, str]  # spots element -> coordinate system shared by the spots and their image
    sections: dict[str, str]  # spots element -> section label
    pearson_all: dict[str, float] | None  # per-gene r of `hst.tl.evaluate`, when the table was evaluated
    with_observed: bool
    table_name: str = PLOT_TABLE

    def image_key(self, region: str) -> str:
        return self.images[region]

    def coordinate_system(self, region: str) -> str:
        return self.systems[region]

    def section(self, region: str) -> str:
        return self.sections[region]

    @property
    def layers(self) -> set[str]:
        """The layers drawn: predicted, and observed, residual, predicted_sd, ood where the table has them."""
        return set(next(iter(self.views.values())).tables[self.table_name].layers)

    def values(self, gene: str, layer: str, region: str | None = None) -> np.ndarray:
        """Return the values of ``gene`` in ``layer`` over the spots of ``region`` (default all shown spots)."""
        regions = list(self.views) if region is None else [region]
        tables = [self.views[r].tables[self.table_name] for r in regions]
        return np.concatenate([np.asarray(t[:, gene].layers[layer], dtype=np.float64).ravel() for t in tables])

    def pearson(self, gene: str, region: str) -> float | None:
        """Return the gene's r: from ``hst.tl.evaluate`` when present, else over the measured spots of ``region``."""
        from hyperst.metrics import per_gene_metrics

        if not self.with_observed:
            return None
        if self.pearson_all is not None:
            return self.pearson_all[gene]
        observed, predicted = self.values(gene, Key.OBSERVED, region), self.values(gene, Key.PREDICTED, region)
        measured = np.isfinite(observed)
        if measured.sum() < 2:
            return float("nan")
        pair = (observed[measured, None], predicted[measured, None])
        return float(per_gene_metrics(*pair, [gene])["pearson"].iloc[0])


def plotted_genes(table: AnnData, genes: str | Sequence[str], table_key: str) -> list[str]:
    """Return the requested genes as a list; raise naming the missing ones and some that exist."""
    genes = [genes] if isinstance(genes, str) else [str(g) for g in genes]
    if not genes:
        raise ValueError("`genes` is empty; pass one or more genes of the model's panel.")
    check_genes(
        table, genes, table_key,
        fix=f"It holds the model's {table.n_vars} genes (e.g. {list(table.var_names[:5])}): pick genes from "
        f"`sdata.tables[{table_key!r}].var_names`.",
    )  # fmt: skip
    return list(dict.fromkeys(genes))


def resolve_regions(
    sdata: SpatialData, table: AnnData, sections: str | Sequence[str] | None, table_key: str
) -> list[str]:
    """Spots elements to show, from section labels or element names; default every one the table covers."""
    labels = section_labels(table, table_key)
    if sections is None:
        regions = list(labels)
    else:
        sections = [sections] if isinstance(sections, str) else list(sections)
        by_label = {label: region for region, label in labels.items()}
        unknown = [s for s in sections if s not in labels and s not in by_label]
        if unknown or not sections:
            raise KeyError(
                f"Sections {unknown or sections} are not covered by table {table_key!r}; it holds sections "
                f"{list(labels.values())} (spots elements {list(labels)}). Predict them first with "
                "`hst.tl.predict(sdata, model, spots_key=...)` or pick among those."
            )
        regions = list(dict.fromkeys(s if s in labels else by_label[s] for s in sections))
    missing = [r for r in regions if r not in sdata.shapes]
    if missing:
        raise KeyError(
            f"Table {table_key!r} annotates spots elements {missing} that are not in the SpatialData object "
            f"(shapes: {list(sdata.shapes)}); plot the SpatialData object the predictions were made on."
        )
    return regions


def section_labels(table: AnnData, table_key: str) -> dict[str, str]:
    """Spots element -> section label (``obs["section"]`` when it has one value per element, else the element)."""
    _, region_key, _ = table_keys(table, table_key, fix="pass the table written by `hst.tl.predict`.")
    regions = table.obs[region_key].astype(str).to_numpy()
    labels = {}
    for region in dict.fromkeys(regions):
        values = table.obs[Key.SECTION][regions == region].astype(str).unique() if Key.SECTION in table.obs else []
        labels[region] = values[0] if len(values) == 1 else region
    return labels


def build_view(
    sdata: SpatialData,
    table: AnnData,
    genes: list[str],
    regions: list[str],
    *,
    with_observed: bool,
    with_uncertainty: bool = False,
) -> SpotView:
    """Collect the images, spots and values to draw without copying images or modifying ``sdata``."""
    import anndata as ad
    import pandas as pd
    import spatialdata
    from spatialdata.models import TableModel, get_table_keys

    _, region_key, instance_key = get_table_keys(table)
    labels = section_labels(table, "")
    images, systems = {}, {}
    recorded = table.uns.get(Key.UNS, {}).get("sections", {})
    for region in regions:
        images[region], systems[region] = _image_of(sdata, region, recorded.get(region, {}).get("image_key"))

    views = {}
    columns = [table.var_names.get_loc(g) for g in genes]
    for region in regions:
        # One SpatialData per section: spatialdata-plot warns when a table annotates elements that its
        # per-coordinate-system filtering has dropped.
        keep = (table.obs[region_key].astype(str) == region).to_numpy()
        layers = {Key.PREDICTED: _dense(table.layers[Key.PREDICTED], keep, columns)}
        if with_observed:
            layers[Key.OBSERVED] = _dense(table.layers[Key.OBSERVED], keep, columns)
            layers[RESIDUAL] = layers[Key.OBSERVED] - layers[Key.PREDICTED]
        if with_uncertainty and Key.PREDICTED_SD in table.layers:
            layers[Key.PREDICTED_SD] = _dense(table.layers[Key.PREDICTED_SD], keep, columns)
        if with_uncertainty and Key.OOD in table.obs:
            ood = table.obs[Key.OOD].to_numpy(dtype=np.float32)[keep]
            layers[OOD] = np.repeat(ood[:, None], len(genes), axis=1)
        obs = pd.DataFrame(
            {
                region_key: pd.Categorical([region] * int(keep.sum()), categories=[region]),
                instance_key: table.obs[instance_key].to_numpy()[keep],
            },
            index=table.obs_names[keep],
        )
        plot_table = ad.AnnData(X=layers[Key.PREDICTED].copy(), obs=obs, var=pd.DataFrame(index=genes), layers=layers)
        plot_table = TableModel.parse(plot_table, region=region, region_key=region_key, instance_key=instance_key)
        views[region] = spatialdata.SpatialData(
            images={images[region]: _around_spots(sdata, images[region], region, systems[region])},
            shapes={region: sdata.shapes[region]},
            tables={PLOT_TABLE: plot_table},
        )
    evaluated = with_observed and "pearson" in table.var
    pearson = (
        {g: float(table.var["pearson"].iloc[c]) for g, c in zip(genes, columns, strict=True)} if evaluated else None
    )
    return SpotView(views, images, systems, {r: labels[r] for r in regions}, pearson, with_observed)


def _image_of(sdata: SpatialData, region: str, recorded: str | None) -> tuple[str, str]:
    """Return the spots' image and the coordinate system they share.

    The image is the one ``hst.tl.predict`` used, else the first sharing a coordinate system with the spots.
    """
    from spatialdata.transformations import get_transformation

    spot_systems = set(get_transformation(sdata.shapes[region], get_all=True))
    names = [recorded] if recorded in sdata.images else list(sdata.images)
    for name in names:
        shared = sorted(spot_systems & set(get_transformation(sdata.images[name], get_all=True)))
        if shared:
            return name, "global" if "global" in shared else shared[0]
    raise ValueError(
        f"No H&E image shares a coordinate system with spots {region!r} (images: {list(sdata.images)}); add the "
        "image, or give it and the spots a common coordinate system (`spatialdata.transformations`)."
    )


def _around_spots(sdata: SpatialData, image_key: str, region: str, system: str, margin: float = 0.05):
    """Return the image cropped lazily (a dask slice, no pixels copied) to the spots' extent plus a margin.

    Slides are often much larger than the spotted tissue; cropping keeps the spots readable and renders faster.
    """
    from spatialdata import bounding_box_query, get_extent

    extent = get_extent(sdata.shapes[region], coordinate_system=system)
    pad = margin * max(high - low for low, high in extent.values())
    cropped = bounding_box_query(
        sdata.images[image_key],
        axes=("x", "y"),
        min_coordinate=[extent["x"][0] - pad, extent["y"][0] - pad],
        max_coordinate=[extent["x"][1] + pad, extent["y"][1] + pad],
        target_coordinate_system=system,
    )
    return sdata.images[image_key] if cropped is None else cropped


def _dense(matrix, rows: np.ndarray, columns: list[int]) -> np.ndarray:
    part = matrix[rows][:, columns]
    part = part.toarray() if hasattr(part, "toarray") else np.asarray(part)
    return part.astype(np.float32)
