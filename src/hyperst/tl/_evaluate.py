"""``hst.tl.evaluate``: compare predicted with measured expression in the output table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hyperst import metrics
from hyperst._constants import Key
from hyperst.data import output_table

if TYPE_CHECKING:
    from anndata import AnnData
    from spatialdata import SpatialData


def evaluate(
    sdata: SpatialData | AnnData,
    *,
    table_key: str = Key.OUTPUT_TABLE,
    groupby: str | None = None,
) -> pd.DataFrame:
    """Score the predictions of :func:`hyperst.tl.predict` against the measured values, per gene and per panel.

    Every metric is computed twice: on ``log2(1 + count)`` as predicted (the paper's scale) and after
    library-size normalisation over the panel (see :func:`hyperst.metrics.normalise_panel`). Raw-count
    correlations mostly measure how dense the tissue is; the normalised ones ask whether the model knows which
    genes a spot expresses. Report both.

    Parameters
    ----------
    sdata
        SpatialData object holding the output table (or that AnnData table itself).
    table_key
        Key of the table written by :func:`hyperst.tl.predict`.
    groupby
        Column of ``obs`` (e.g. ``"section"``); when given, every metric is also computed per group.

    Returns
    -------
    Per-gene metrics (``pearson``, ``spearman``, ``mse``, ``mae``, and the same with suffix ``_norm`` on
    normalised values) over all measured spots, indexed by gene; with ``groupby``, indexed by (group, gene) with
    one block per group.

    Writes to the table:

    - ``var[metric]`` and ``var[metric + "_norm"]``: per-gene metrics over all measured spots.
    - ``uns["hyperst"]["metrics"]``: ``{"raw": summary, "normalised": summary, "n_spots": int}`` where a summary
      holds ``pcc_mean`` (fixed panel), ``pcc@10``, ``pcc@50``, ``pcc@200`` (post hoc top-k, the paper's
      metric), ``mse``, ``mae`` and ``rvd``; with ``groupby`` also ``"per_group": {group: {"raw": ..., ...}}``.

    Examples
    --------
    >>> metrics = hst.tl.evaluate(sdata)  # doctest: +SKIP
    >>> sdata.tables["hyperst"].uns["hyperst"]["metrics"]["normalised"]["pcc_mean"]  # doctest: +SKIP
    """
    table = output_table(sdata, table_key)
    observed, predicted, measured = _measured_pair(table, table_key)

    per_gene, summary = metrics.score(observed, predicted, table.var_names)
    summary["n_spots"] = int(measured.sum())
    result = per_gene
    if groupby is not None:
        if groupby not in table.obs:
            raise KeyError(f"`groupby={groupby!r}` is not a column of table '{table_key}'.obs: {list(table.obs)}.")
        groups = table.obs[groupby].to_numpy()[measured]
        blocks, summary["per_group"] = {}, {}
        for group in pd.unique(groups):
            rows = groups == group
            if rows.sum() < 2:
                continue  # a correlation needs two spots
            blocks[group], summary["per_group"][str(group)] = metrics.score(
                observed[rows], predicted[rows], table.var_names
            )
            summary["per_group"][str(group)]["n_spots"] = int(rows.sum())
        result = pd.concat(blocks, names=[groupby, "gene"])

    for column in per_gene:
        table.var[column] = per_gene[column].to_numpy()
    table.uns.setdefault(Key.UNS, {})[Key.METRICS] = summary
    return result


def _measured_pair(table: AnnData, table_key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for layer in (Key.OBSERVED, Key.PREDICTED):
        if layer not in table.layers:
            raise KeyError(
                f"Table '{table_key}' has no layers['{layer}']. `evaluate` compares the layers written by "
                "`hst.tl.predict`; 'observed' exists only where the spots had measured counts."
            )
    observed = np.asarray(table.layers[Key.OBSERVED], dtype=np.float64)
    predicted = np.asarray(table.layers[Key.PREDICTED], dtype=np.float64)
    measured = np.isfinite(observed).all(axis=1)
    if measured.sum() < 2:
        raise ValueError(
            f"Table '{table_key}' has {int(measured.sum())} spots with measured values; evaluation needs at least 2."
        )
    return observed[measured], predicted[measured], measured
