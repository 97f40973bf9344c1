"""``SpotData``: every spot of the resolved sections with its counts, niche counts, neighbours and crop status.

This is what the model layer consumes: it never sees the SpatialData layout, only arrays indexed by spot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hyperst._constants import CropBackground, Key, OutOfBounds, check_choice
from hyperst._docs import doc_image_key, doc_layer, doc_out_of_bounds, doc_params
from hyperst._logging import logger
from hyperst.data import _table
from hyperst.data._niches import DEFAULT_GENERIC_NEIGHBOURS, neighbour_graph, niche_means
from hyperst.data._sections import CROP_KINDS, Section, resolve_sections

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix
    from spatialdata import SpatialData

    from hyperst.data._views import CropView


@dataclass(frozen=True, eq=False)
class SpotData:
    """Spots of one or more sections, in section order, with everything a model needs apart from pixels.

    Attributes
    ----------
    sdata
        The SpatialData object the crops are read from (lazily; never modified).
    sections
        The resolved sections (:class:`~hyperst.data.Section`).
    section_of, position
        ``(n,)`` section of each spot and its row within that section.
    obs_indices
        ``(n,)`` row positions in the table (in the shapes element when there is no table).
    obs
        ``(n, ...)`` copy of the table's ``obs`` rows (or ``section`` / ``region`` columns without a table).
    genes
        Gene panel, in model order (empty without counts).
    counts, niche_counts
        ``(n, n_genes)`` float32 raw counts of the spot and mean raw counts over its niche; ``None`` without counts.
    library_size
        ``(n,)`` float64 total count of each spot's table row over all genes (not only the panel); ``None``
        without counts.
    in_bounds
        ``(n,)`` whether both crops lie inside the image.
    trainable
        ``(n,)`` spots to train on: measured (panel counts > 0) and, with ``out_of_bounds="exclude"``, in bounds.
    out_of_bounds
        The policy for crops leaving the image: ``"pad"`` (with white) or ``"exclude"`` (from training).
    n_neighbours
        Niche size on generic (non-lattice) layouts.
    background
        What crops show where an export hides the glass: ``"white"`` (a black background painted white, as glass,
        see :func:`~hyperst.data.paint_background`) or ``"keep"`` (the pixels as they are).
    view
        An augmented view applied to every crop read (:class:`~hyperst.data.CropView`); ``None`` for the crops as
        they are. ``dataclasses.replace(spots, view=...)`` gives the same spots seen through a view.
    """

    sdata: SpatialData
    sections: tuple[Section, ...]
    section_of: np.ndarray
    position: np.ndarray
    obs_indices: np.ndarray
    obs: pd.DataFrame
    genes: tuple[str, ...]
    counts: np.ndarray | None
    niche_counts: np.ndarray | None
    library_size: np.ndarray | None
    in_bounds: np.ndarray
    trainable: np.ndarray
    out_of_bounds: str
    n_neighbours: int = DEFAULT_GENERIC_NEIGHBOURS
    background: CropBackground = "keep"
    view: CropView | None = None
    _neighbours: csr_matrix | None = field(default=None, repr=False)

    @property
    def neighbours(self) -> csr_matrix:
        """``(n, n)`` binary neighbour graph (block diagonal over sections, no self loops), built when first used.

        Only niche counts and niche features averaged over neighbours need it; on a million Visium HD bins it is the
        largest object of a prediction without counts.
        """
        if self._neighbours is None:
            graph = neighbour_graph(self.sections, n_neighbours=self.n_neighbours)
            object.__setattr__(self, "_neighbours", graph)  # a cache on a frozen dataclass
        return self._neighbours

    @property
    def n_spots(self) -> int:
        """Number of spots."""
        return len(self.obs_indices)

    @property
    def centres_px(self) -> np.ndarray:
        """``(n, 2)`` spot centres in level-0 pixels of each spot's own image."""
        return np.concatenate([s.centres_px for s in self.sections]) if self.sections else np.empty((0, 2))

    def crop_um(self, kind: str) -> np.ndarray:
        """``(n,)`` side of each spot's ``"spot"`` or ``"niche"`` crop in µm."""
        return np.array([s.crop_um(kind) for s in self.sections])[self.section_of]


@doc_params(layer=doc_layer, image_key=doc_image_key, out_of_bounds=doc_out_of_bounds)
def prepare_spots(
    sdata: SpatialData,
    *,
    table_key: str | None = Key.TABLE,
    genes: Sequence[str] | None = None,
    layer: str | None = None,
    spots_key: str | Sequence[str] | None = None,
    image_key: str | Mapping[str, str] | None = None,
    spot_diameter_um: float | Mapping[str, float] | None = None,
    microns_per_pixel: float | Mapping[str, float] | None = None,
    with_counts: bool = True,
    out_of_bounds: OutOfBounds = "pad",
    check_tissue: bool = True,
    n_neighbours: int = DEFAULT_GENERIC_NEIGHBOURS,
    background: CropBackground = "keep",
) -> SpotData:
    """Resolve sections, read the panel's raw counts and build niches; nothing in ``sdata`` is modified.

    Parameters
    ----------
    sdata
        SpatialData with images, spots (circles) and a counts table annotating them.
    table_key
        Counts table; ``None`` for spots without a table (prediction on a new slide; needs ``spots_key``).
    genes
        Gene panel; default ``table.var["hyperst_gene"]`` when present, else every gene.
    {layer}
    spots_key
        Spots element(s) to use; default every one annotated by the table.
    {image_key}
    spot_diameter_um
        Spot diameter in µm, when neither the grid (Visium, legacy ST) nor the data tells.
    microns_per_pixel
        Level-0 pixel size of the image in µm, overriding what the spot grid implies; default the sizes a reader
        recorded in ``table.uns["hyperst_microns_per_pixel"]`` (HEST), else the grid's.
    with_counts
        Read counts and niche counts (``False`` for prediction without measurements).
    {out_of_bounds}
    check_tissue
        Raise when none of a sample of spots lies on stained tissue (misregistered spots or image).
    n_neighbours
        Niche size on generic (non-lattice) layouts.
    background
        ``"white"`` paints a black background (masked exports, scanner padding) white, as glass; ``"keep"`` reads
        the pixels as they are.

    Returns
    -------
    The spots as arrays (:class:`SpotData`).
    """
    check_choice("out_of_bounds", out_of_bounds, OutOfBounds)
    check_choice("background", background, CropBackground)
    keys = [spots_key] if isinstance(spots_key, str) else None if spots_key is None else list(spots_key)
    table, keys, rows = _spot_rows(sdata, table_key, keys)
    if table is None:
        with_counts = False
    elif microns_per_pixel is None:
        microns_per_pixel = _recorded_pixel_sizes(table, keys)
    gene_list = _table.resolve_genes(table, genes, table_key) if with_counts else []
    counts = _table.dense_counts(table, gene_list, layer, table_key) if with_counts else None
    library_size = _table.library_sizes(table, layer, table_key) if with_counts else None

    sections = tuple(
        resolve_sections(
            sdata,
            keys,
            rows,
            image_key=image_key,
            spot_diameter_um=spot_diameter_um,
            microns_per_pixel=microns_per_pixel,
            check_tissue=check_tissue,
        )
    )
    section_of = np.concatenate([np.full(s.n_spots, i) for i, s in enumerate(sections)])
    position = np.concatenate([np.arange(s.n_spots) for s in sections])
    obs_indices = np.concatenate([s.obs_indices for s in sections])
    graph = neighbour_graph(sections, n_neighbours=n_neighbours) if counts is not None else None
    if counts is not None:
        counts, library_size = counts[obs_indices], library_size[obs_indices]
        niche_counts = niche_means(counts, graph)
        measured = counts.sum(axis=1) > 0
    else:
        niche_counts, measured = None, np.zeros(len(obs_indices), dtype=bool)
    in_bounds = np.concatenate([_crops_inside(sdata, s) for s in sections])
    trainable = measured & (in_bounds if out_of_bounds == "exclude" else True)
    _report(in_bounds, measured, out_of_bounds, with_counts)
    return SpotData(
        sdata=sdata,
        sections=sections,
        section_of=section_of,
        position=position,
        obs_indices=obs_indices,
        obs=_obs(table, sections, obs_indices),
        genes=tuple(gene_list),
        counts=counts,
        niche_counts=niche_counts,
        library_size=library_size,
        in_bounds=in_bounds,
        trainable=np.asarray(trainable, dtype=bool),
        out_of_bounds=out_of_bounds,
        n_neighbours=n_neighbours,
        background=background,
        _neighbours=graph,
    )


def _spot_rows(
    sdata: SpatialData, table_key: str | None, keys: list[str] | None
) -> tuple[Any, list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Return the table (``None`` without one), the spots elements and, per element, its table rows and instances."""
    if table_key is None:
        if not keys:
            raise ValueError("Without a table (`table_key=None`) pass the spots element(s) with `spots_key=`.")
        points = [key for key in keys if key not in sdata.shapes and key in sdata.points]
        if points:
            raise TypeError(_table.points_are_not_spots(points[0]))
        missing = [key for key in keys if key not in sdata.shapes]
        if missing:
            raise KeyError(f"Shapes {missing} not found in the SpatialData object (shapes: {list(sdata.shapes)}).")
        return (
            None,
            keys,
            {key: (np.arange(len(sdata.shapes[key])), sdata.shapes[key].index.to_numpy()) for key in keys},
        )
    table = _table.get_table(sdata, table_key)
    regions, region_key, instance_key = _table.annotated_regions(sdata, table, table_key)
    if keys is not None:
        unknown = [key for key in keys if key not in regions]
        if unknown:
            raise KeyError(f"Table {table_key!r} does not annotate {unknown} (it annotates {regions}).")
        regions = keys
    region = table.obs[region_key].astype(str).to_numpy()
    instances = table.obs[instance_key].to_numpy()
    return table, regions, {key: (np.flatnonzero(region == key), instances[region == key]) for key in regions}


def _recorded_pixel_sizes(table: Any, keys: list[str]) -> dict[str, float] | None:
    """Pixel sizes a reader recorded in ``table.uns`` (e.g. HEST's), for the spots elements in use."""
    recorded = table.uns.get(Key.PIXEL_SIZES)
    if not recorded:
        return None
    sizes = {key: float(recorded[key]) for key in keys if key in recorded}
    if sizes:
        logger.info("Pixel sizes from `uns[%r]` of the table: %s µm/px.", Key.PIXEL_SIZES, sizes)
    return sizes or None


def _crops_inside(sdata: SpatialData, section: Section) -> np.ndarray:
    from hyperst.data._image import image_levels

    height, width = image_levels(sdata.images[section.image_key], section.image_key)[0].shape_yx
    half = max(section.crop_px(kind) for kind in CROP_KINDS) / 2
    x, y = section.centres_px[:, 0], section.centres_px[:, 1]
    tolerance = 0.5  # pixels
    return (
        (x - half >= -tolerance)
        & (y - half >= -tolerance)
        & (x + half <= width + tolerance)
        & (y + half <= height + tolerance)
    )


def _report(in_bounds: np.ndarray, measured: np.ndarray, policy: str, with_counts: bool) -> None:
    n_out = int((~in_bounds).sum())
    if n_out:
        action = "padded with white" if policy == "pad" else "padded for prediction and excluded from training"
        logger.warning(
            "%d of %d spots have crops that leave the image: %s (out_of_bounds=%r).",
            n_out,
            len(in_bounds),
            action,
            policy,
        )
    n_empty = int((~measured).sum()) if with_counts else 0
    if n_empty:
        logger.warning(
            "%d of %d spots have no counts for the gene panel: excluded from training.", n_empty, len(measured)
        )


def _obs(table: Any, sections: tuple[Section, ...], obs_indices: np.ndarray) -> pd.DataFrame:
    if table is not None:
        return table.obs.iloc[obs_indices].copy()
    frames = [
        pd.DataFrame({Key.REGION: s.spots_key, Key.INSTANCE: s.instance_ids, Key.SECTION: s.spots_key})
        for s in sections
    ]
    return pd.concat(frames, ignore_index=True)
