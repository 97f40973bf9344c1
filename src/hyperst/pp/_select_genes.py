"""``hst.pp.select_genes``: the gene panel HyperST predicts (HMHVG, top genes by mean, or a user list)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hyperst import data
from hyperst._constants import GeneSelection, Key, choices
from hyperst._docs import doc_layer, doc_params, doc_table_key_counts
from hyperst._logging import logger
from hyperst._threads import keep_torch_threads

if TYPE_CHECKING:
    from anndata import AnnData
    from spatialdata import SpatialData

# Mitochondrial (MT-) and ribosomal protein (RPL*/RPS*/RPLP*) genes; case-insensitive, so mouse names match too.
DEFAULT_EXCLUDE = r"^(?:MT-|RP[SL]\d+[A-Z]?\d*$|RPLP\d$)"


@doc_params(table_key=doc_table_key_counts, layer=doc_layer)
def select_genes(
    sdata: SpatialData | AnnData,
    n_genes: int = 200,
    *,
    method: str | Sequence[str] = "hmhvg",
    table_key: str = Key.TABLE,
    layer: str | None = None,
    n_top_per_section: int = 2000,
    n_top: int | None = None,
    section_key: str | None = Key.SECTION,
    exclude: str | None = DEFAULT_EXCLUDE,
    inplace: bool = True,
) -> list[str] | None:
    """Choose the gene panel HyperST is trained to predict.

    ``"hmhvg"`` (the paper's panel): highly variable genes are found per section (``n_top_per_section`` after
    ``normalize_total`` + ``log1p``, scanpy's ``seurat`` flavour) and pooled; mitochondrial and ribosomal genes
    are removed; the panel is the intersection of the top-N genes by mean and the top-N by standard deviation
    (of log-normalised expression over all spots). The paper fixes N = 300 (about 200 genes on its data); by
    default N is chosen so the panel has ``n_genes`` genes. ``"hvg"``: the pooled highly variable genes with the
    highest mean. A list of gene names: exactly those genes.

    Parameters
    ----------
    sdata
        SpatialData with the counts table (or the AnnData table itself).
    n_genes
        Panel size (ignored for a gene list).
    method
        ``"hmhvg"``, ``"hvg"`` or a list of gene names.
    {table_key}
    {layer}
    n_top_per_section
        Highly variable genes per section.
    n_top
        Fixed N of the HMHVG intersection (the paper: 300); the panel is cut to ``n_genes`` if larger.
        ``None`` picks N so the panel has ``n_genes`` genes.
    section_key
        Column of ``obs`` with sections (falls back to the region column, then to one section).
    exclude
        Regular expression (case-insensitive) of gene names never selected; ``None`` keeps all.
    inplace
        Write the panel into the table (``True``) or return it.

    Returns
    -------
    With ``inplace=False``, the panel's gene names in table order; otherwise ``None`` and writes

    - ``table.var["hyperst_gene"]``: ``True`` for panel genes;
    - ``table.uns["hyperst_genes"]``: ``{"method", "genes" (ranked), "params"}``.

    Examples
    --------
    >>> sdata = hst.datasets.toy(seed=0)  # doctest: +SKIP
    >>> hst.pp.select_genes(sdata, n_genes=20)  # doctest: +SKIP
    >>> sdata.tables["table"].var["hyperst_gene"].sum()  # doctest: +SKIP
    20
    """
    table = _get_table(sdata, table_key)
    data.check_unique_genes(table, table_key)
    if isinstance(method, str) and method not in choices(GeneSelection):
        raise ValueError(f"`method` must be one of {choices(GeneSelection)} or a list of gene names, got {method!r}.")
    if isinstance(method, str):
        if not (isinstance(n_genes, int | np.integer) and n_genes > 0):
            raise ValueError(f"`n_genes` must be a positive integer, got {n_genes!r}.")
        if n_top is not None and n_top < 1:
            raise ValueError(f"`n_top` must be positive, got {n_top}.")
        matrix = data.count_matrix(table, layer, table_key)
        where = f"table {table_key!r}" + (f" layer {layer!r}" if layer else ".X")
        data.check_counts(matrix, where, hint=data.raw_counts_hint(table, layer))
        ranked, used_n = _rank(table, matrix, method, n_genes, n_top, n_top_per_section, section_key, exclude)
        name = method
    else:
        ranked, used_n, name = data.resolve_genes(table, list(method), table_key), None, "list"
    panel = table.var_names[table.var_names.isin(ranked)].tolist()
    logger.info("Selected %d genes (%s%s).", len(panel), name, "" if used_n is None else f", N = {used_n}")
    if not inplace:
        return panel
    table.var[Key.GENE_PANEL] = table.var_names.isin(ranked)
    params = {"n_genes": int(n_genes), "layer": layer, "n_top_per_section": int(n_top_per_section)}
    params |= {"n_top": None if used_n is None else int(used_n), "section_key": section_key, "exclude": exclude}
    table.uns[Key.GENE_PANEL_RECORD] = {"method": name, "genes": list(ranked), "params": params}
    return None


def _rank(
    table, matrix, method, n_genes, n_top, n_top_per_section, section_key, exclude
) -> tuple[list[str], int | None]:
    """Panel genes, best first, and the N used for the HMHVG intersection."""
    import anndata as ad
    import scanpy as sc
    from scipy import sparse

    counts = sparse.csr_matrix(matrix, dtype=np.float32)
    if counts.shape[0] == 0 or counts.sum() == 0:
        raise ValueError("The table has no counts; the gene panel needs measured spots.")
    hvg = np.zeros(table.n_vars, dtype=bool)
    with keep_torch_threads():  # scanpy's numba kernels would reset torch's thread count
        for rows in _section_rows(table, section_key):
            part = ad.AnnData(X=counts[rows].copy())
            sc.pp.normalize_total(part)
            sc.pp.log1p(part)
            n_hvg = min(n_top_per_section, part.n_vars)
            if n_hvg >= part.n_vars or part.n_obs < 2:
                hvg |= np.asarray(part.X.sum(axis=0)).ravel() > 0
                continue
            result = sc.pp.highly_variable_genes(part, n_top_genes=n_hvg, flavor="seurat", inplace=False)
            hvg |= result["highly_variable"].to_numpy()
    if exclude is not None:
        hvg &= ~table.var_names.str.contains(exclude, flags=re.IGNORECASE, regex=True)
    candidates = np.flatnonzero(hvg)
    if candidates.size == 0:
        raise ValueError("No highly variable genes left after removing excluded genes; relax `exclude`.")

    totals = np.asarray(counts.sum(axis=1)).ravel()
    logged = sparse.csr_matrix(sparse.diags(np.median(totals) / np.maximum(totals, 1)) @ counts[:, candidates])
    logged.data = np.log1p(logged.data)
    mean = np.asarray(logged.mean(axis=0)).ravel()
    sd = np.sqrt(np.maximum(np.asarray(logged.multiply(logged).mean(axis=0)).ravel() - mean**2, 0))
    rank_mean = pd.Series(-mean).rank(method="first").to_numpy() - 1
    rank_sd = pd.Series(-sd).rank(method="first").to_numpy() - 1
    names = table.var_names[candidates]
    if method == "hvg":
        return names[np.argsort(rank_mean, kind="stable")[:n_genes]].tolist(), None
    enters = np.maximum(rank_mean, rank_sd)  # a gene is in the top-N of both once N > enters
    order = np.lexsort((rank_mean + rank_sd, enters))
    if n_top is not None:
        order = order[enters[order] < n_top]
    chosen = order[:n_genes]
    if len(chosen) < n_genes:
        logger.warning("Only %d genes qualify for the panel (asked for %d).", len(chosen), n_genes)
    used_n = int(enters[chosen].max()) + 1 if n_top is None else int(n_top)
    return names[chosen].tolist(), used_n


def _section_rows(table: AnnData, section_key: str | None) -> list[np.ndarray]:
    from spatialdata.models import TableModel

    column = section_key if section_key in table.obs else None
    if column is None:
        column = table.uns.get(TableModel.ATTRS_KEY, {}).get(TableModel.REGION_KEY_KEY)
        column = column if column in table.obs else None
    if column is None:
        return [np.arange(table.n_obs)]
    labels = table.obs[column].astype(str).to_numpy()
    return [np.flatnonzero(labels == label) for label in pd.unique(labels)]


def _get_table(sdata, table_key: str) -> AnnData:
    from anndata import AnnData

    if isinstance(sdata, AnnData):
        if sdata.n_obs == 0 or sdata.n_vars == 0:
            raise ValueError(f"The table is empty ({sdata.n_obs} spots x {sdata.n_vars} genes).")
        return sdata
    return data.get_table(sdata, table_key)
