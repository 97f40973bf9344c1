"""Checked access to the counts table: annotated elements, gene names, raw counts.

Every check raises before anything is written, with the fix in the message; nothing here modifies the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hyperst._constants import Key
from hyperst._logging import logger

if TYPE_CHECKING:
    from anndata import AnnData
    from spatialdata import SpatialData


def check_spatialdata(sdata: Any, function: str) -> None:
    """Raise a ``TypeError`` naming SpatialData and the way in, unless ``sdata`` is a SpatialData object.

    ``function`` is the public call, e.g. ``"hst.tl.fit"``; the message says how AnnData users convert.
    """
    from spatialdata import SpatialData

    if isinstance(sdata, SpatialData):
        return
    got = type(sdata).__name__
    if got == "AnnData":
        raise TypeError(
            f"`{function}` takes a SpatialData object (H&E image, spots and counts together), not an AnnData. "
            "Convert a scanpy/squidpy Visium AnnData (with `uns['spatial']`) with "
            "`sdata = spatialdata_io.experimental.from_legacy_anndata(adata)`, or read the Space Ranger folder "
            "with `spatialdata_io.visium(path)` (docs/data.md, 'Bring your own data')."
        )
    swapped = " The SpatialData object comes first (arguments swapped?)." if got == "HyperST" else ""
    raise TypeError(f"`{function}` takes a SpatialData object as its first argument; got {got}.{swapped}")


def get_table(sdata: SpatialData, table_key: str) -> AnnData:
    """Return ``sdata.tables[table_key]``; raise when it is missing or empty."""
    if table_key not in sdata.tables:
        raise KeyError(
            f"No table {table_key!r} in the SpatialData object (tables: {list(sdata.tables)}). Pass `table_key=`."
        )
    table = sdata.tables[table_key]
    if table.n_obs == 0 or table.n_vars == 0:
        raise ValueError(
            f"Table {table_key!r} is empty ({table.n_obs} spots x {table.n_vars} genes); it needs spots and genes."
        )
    return table


def output_table(
    sdata: SpatialData | AnnData, table_key: str, *, allow_anndata: bool = True, function: str = "This function"
) -> AnnData:
    """Return the table written by ``hst.tl.predict`` (``sdata`` itself when it is that AnnData and allowed)."""
    from anndata import AnnData

    if allow_anndata and isinstance(sdata, AnnData):
        return sdata
    tables = getattr(sdata, "tables", None)
    if tables is None and not allow_anndata:
        check_spatialdata(sdata, function)
    if tables is None:
        raise TypeError(f"Expected a SpatialData object or an AnnData table; got {type(sdata).__name__}.")
    if table_key not in tables:
        raise KeyError(
            f"No table {table_key!r} in the SpatialData object (tables: {list(tables)}). Run `hst.tl.predict` "
            "first, or pass the `table_key` it wrote (its `key_added`)."
        )
    return tables[table_key]


def table_keys(table: AnnData, table_key: str, *, fix: str) -> tuple[str | list[str], str, str]:
    """Return the table's SpatialData annotation: annotated region(s), region key and instance key.

    Raises a ``KeyError`` that names the table and ends with ``fix`` when the table has none.
    """
    from spatialdata.models import get_table_keys

    try:
        return get_table_keys(table)
    except (KeyError, ValueError) as error:
        raise KeyError(
            f"Table {table_key!r} does not say which spots it annotates (no `uns['spatialdata_attrs']`); {fix}"
        ) from error


def annotated_regions(sdata: SpatialData, table: AnnData, table_key: str) -> tuple[list[str], str, str]:
    """Shapes elements annotated by the table, with its region and instance keys.

    Raises
    ------
    KeyError
        When the table has no SpatialData annotation or annotates an element that does not exist.
    TypeError
        When it annotates something other than a shapes element.
    """
    fix = "parse it with `TableModel.parse(table, region=..., region_key=..., instance_key=...)`."
    regions, region_key, instance_key = table_keys(table, table_key, fix=fix)
    regions = [regions] if isinstance(regions, str) else list(regions)
    for region in regions:
        if region in sdata.shapes:
            continue
        if region in sdata.points:
            raise TypeError(f"Table {table_key!r} annotates {region!r}. {points_are_not_spots(region)}")
        if region in sdata.labels or region in sdata.images:
            raise TypeError(
                f"Table {table_key!r} annotates {region!r}, which is not a shapes element; HyperST needs spots "
                "as circles (or polygons) in `sdata.shapes`. Convert labels with `spatialdata.to_circles`."
            )
        raise KeyError(
            f"Table {table_key!r} annotates {region!r}, which is not an element of the SpatialData object "
            f"(shapes: {list(sdata.shapes)}). Add the spots element or fix the table's `region` "
            "(`sdata.set_table_annotates_spatialelement`)."
        )
    present = table.obs[region_key].astype(str)
    stray = sorted(set(present.unique()) - set(regions))
    if stray:
        rows = int(present.isin(stray).sum())
        raise ValueError(
            f"{rows} rows of table {table_key!r} have obs[{region_key!r}] values {stray[:5]} that are not among the "
            f"elements the table annotates ({regions}); they would be left out of training and prediction. Fix "
            f"the values (a typo?) or declare the elements: `sdata.set_table_annotates_spatialelement({table_key!r}, "
            "region=[...])`."
        )
    return [region for region in regions if region in set(present.unique())], region_key, instance_key


def points_are_not_spots(key: str) -> str:
    """Return the message for a points element given where spots are needed: what is wrong, how to make circles."""
    return (
        f"{key!r} is a points element, and points are not spots: they have no size, so HyperST cannot cut a spot's "
        "image. Make circles of the spot diameter from them, e.g. `sdata.shapes['spots'] = "
        f"spatialdata.to_circles(sdata.points[{key!r}], radius=...)` (the radius in the points' units; Visium "
        "spots are 55 µm across), and annotate the table to the new element "
        "(`sdata.set_table_annotates_spatialelement`)."
    )


def check_unique_genes(table: AnnData, table_key: str) -> None:
    """Raise when gene names repeat."""
    if not table.var_names.is_unique:
        duplicated = table.var_names[table.var_names.duplicated()].unique().tolist()
        raise ValueError(
            f"Table {table_key!r} has duplicate gene names {duplicated[:5]}; make them unique first "
            "(`table.var_names_make_unique()`) or sum duplicated genes."
        )


def resolve_genes(table: AnnData, genes: Sequence[str] | None, table_key: str) -> list[str]:
    """Check and return the requested genes, in the given order; ``None`` means ``var["hyperst_gene"]`` if present, else all genes."""
    check_unique_genes(table, table_key)
    if genes is None:
        if Key.GENE_PANEL in table.var:
            return table.var_names[table.var[Key.GENE_PANEL].to_numpy(dtype=bool)].tolist()
        return table.var_names.tolist()
    genes = [genes] if isinstance(genes, str) else list(genes)
    if len(set(genes)) != len(genes):
        raise ValueError(f"The requested genes repeat: {sorted({g for g in genes if genes.count(g) > 1})[:5]}.")
    fix = "Check the spelling (HGNC symbols) or select genes with `hst.pp.select_genes`."
    check_genes(table, genes, table_key, fix=fix)
    if not genes:
        raise ValueError("The gene list is empty; pass at least one gene.")
    return genes


def check_genes(
    table: AnnData,
    genes: Sequence[str],
    table_key: str,
    *,
    fix: str,
    panel: Literal["requested", "model"] = "requested",
    warn: bool = False,
) -> bool:
    """Whether ``table`` holds every gene of ``genes``: the one check of a gene panel against a table.

    When genes are missing, raise a ``KeyError`` (or log a warning and return ``False`` with ``warn=True``) that names
    them, counted against ``panel`` (the genes asked for, or the model's), followed by ``fix`` (what to do).
    """
    held = set(table.var_names)
    missing = [gene for gene in genes if gene not in held]
    if not missing:
        return True
    of = f"the model's {len(genes)}" if panel == "model" else f"the {len(genes)} requested"
    shown = f"{missing[:10]}" if len(missing) <= 10 else f"{missing[:10]} and {len(missing) - 10} more"
    message = f"Table {table_key!r} lacks {len(missing)} of {of} genes: {shown}. {fix}"
    if not warn:
        raise KeyError(message)
    logger.warning(message)
    return False


def count_matrix(table: AnnData, layer: str | None, table_key: str) -> Any:
    """``X`` or ``layers[layer]`` (sparse or dense), unchanged."""
    if layer is None:
        return table.X
    if layer not in table.layers:
        raise KeyError(f"No layer {layer!r} in table {table_key!r} (layers: {list(table.layers)}).")
    return table.layers[layer]


def raw_counts_hint(table: AnnData, layer: str | None) -> str:
    """Where the raw counts of a table with transformed ``X`` may be: ``.raw`` (scanpy's habit) or a counts layer."""
    if layer is not None:
        return ""
    if table.raw is not None:
        return (
            " The table keeps `.raw`, where scanpy users keep the counts before normalising: if it holds them, copy "
            "them into a layer, `table.layers['counts'] = table.raw[:, table.var_names].X`, and pass "
            "`layer='counts'`."
        )
    layers = [name for name in table.layers if "count" in name.lower()]
    return f" The table has the layer(s) {layers}: pass `layer={layers[0]!r}`." if layers else ""


def check_counts(matrix: Any, where: str, *, hint: str = "") -> None:
    """Raise unless ``matrix`` holds finite, non-negative, integer raw counts; ``hint`` ends the messages."""
    from scipy import sparse

    values = matrix.data if sparse.issparse(matrix) else np.asarray(matrix)
    if not np.issubdtype(values.dtype, np.number):
        raise TypeError(f"Counts in {where} have dtype {values.dtype}; raw integer counts are needed.")
    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        raise ValueError(f"Counts in {where} contain NaN or infinite values; HyperST needs raw integer counts.")
    if values.min() < 0:
        raise ValueError(
            f"Counts in {where} contain negative values (min {values.min():g}); HyperST needs raw counts, "
            f"not scaled or centred data. Pass the raw counts layer with `layer=`.{hint}"
        )
    if np.issubdtype(values.dtype, np.floating) and not np.all(values == np.round(values)):
        raise ValueError(
            f"Counts in {where} are not integers (normalised or log-transformed?); HyperST needs raw counts. "
            f"Pass the raw counts layer with `layer=` (e.g. `layer='counts'`).{hint}"
        )


def library_sizes(table: AnnData, layer: str | None, table_key: str) -> np.ndarray:
    """Each row's total count over all genes of the table, ``(n_obs,)`` float64 (the library size)."""
    return np.asarray(count_matrix(table, layer, table_key).sum(axis=1), dtype=np.float64).ravel()


def dense_counts(table: AnnData, genes: Sequence[str], layer: str | None, table_key: str) -> np.ndarray:
    """Return checked raw counts of ``genes`` for all rows, ``(n_obs, n_genes)`` float32."""
    from scipy import sparse

    matrix = count_matrix(table, layer, table_key)
    columns = table.var_names.get_indexer(list(genes))
    subset = matrix[:, columns]
    subset = subset.toarray() if sparse.issparse(subset) else np.asarray(subset)
    check_counts(
        subset, f"table {table_key!r}" + (f" layer {layer!r}" if layer else ".X"), hint=raw_counts_hint(table, layer)
    )
    return subset.astype(np.float32)
