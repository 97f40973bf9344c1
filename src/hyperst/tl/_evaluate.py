"""``hst.tl.evaluate``: compare predicted with measured expression in the output table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hyperst import metrics
from hyperst._constants import INTERVAL_COVERAGE, INTERVAL_Z, Key, Normalisation
from hyperst._logging import logger
from hyperst.data import counts_from_expression, expression, log2p, output_table

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

    Every metric is computed twice: against the measured ``log2(1 + count)`` (the paper's scale) and against the
    measured values normalised by each spot's library size over all genes of its row, ``log2(1 + count / library
    size x 10^4)`` (the field's convention, scanpy's ``normalize_total``), with the prediction taken as it is. Raw-count correlations mostly measure how dense the tissue is; the normalised ones ask whether
    the model knows which genes a spot expresses. Report both. Without library sizes in
    ``obs["hyperst_library_size"]`` (tables not written by this version's ``predict``), observed and predicted
    are each normalised over the panel instead (:func:`hyperst.metrics.normalise_panel`), with a warning; the
    summary records which scale was used.

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
    - ``uns["hyperst"]["metrics"]``: ``{"raw": summary, "normalised": summary, "n_spots": int, "normalisation":
      "library_size" | "panel"}`` where a summary
      holds ``pcc_mean`` (fixed panel), ``pcc@10``, ``pcc@50``, ``pcc@200`` (post hoc top-k, the paper's
      metric), ``mse``, ``mae`` and ``rvd``; with ``groupby`` also ``"per_group": {group: {"raw": ..., ...}}``.
    - With ``layers["predicted_sd"]`` (ensembles): ``var["coverage"]``, the share of spots whose measured value
      lies in its 90 % interval (goal 0.9), and ``var["sd_error_spearman"]``, the rank correlation of the
      interval's sd with the absolute error over the spots; both on the model's scale, and their means over genes
      in ``uns["hyperst"]["metrics"]["uncertainty"]``. ``predicted_sd`` is an sd of the expected expression; a
      measured value is compared with what a spot at its depth could show: that expression, sampled as a Poisson
      count at the spot's library size (``obs["hyperst_library_size"]``; docs/usage.md, "Uncertainty").

    Examples
    --------
    >>> metrics = hst.tl.evaluate(sdata)  # doctest: +SKIP
    >>> sdata.tables["hyperst"].uns["hyperst"]["metrics"]["normalised"]["pcc_mean"]  # doctest: +SKIP
    """
    table = output_table(sdata, table_key)
    observed, predicted, measured = _measured_pair(table, table_key)
    uncertainty = _uncertainty(table, observed, predicted, measured)
    observed, normalised, normalisation = _scales(table, observed, measured, table_key)

    per_gene, summary = metrics.score(observed, predicted, table.var_names, normalised_observed=normalised)
    summary["n_spots"] = int(measured.sum())
    summary["normalisation"] = normalisation
    if uncertainty is not None:
        per_gene = per_gene.join(uncertainty[0])
        summary["uncertainty"] = uncertainty[1]
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
                observed[rows],
                predicted[rows],
                table.var_names,
                normalised_observed=None if normalised is None else normalised[rows],
            )
            summary["per_group"][str(group)]["n_spots"] = int(rows.sum())
        result = pd.concat(blocks, names=[groupby, "gene"])

    for column in per_gene:
        table.var[column] = per_gene[column].to_numpy()
    table.uns.setdefault(Key.UNS, {})[Key.METRICS] = summary
    return result


def _uncertainty(
    table: AnnData, observed: np.ndarray, predicted: np.ndarray, measured: np.ndarray
) -> tuple[pd.DataFrame, dict] | None:
    """Coverage and sd-error rank correlation on the model's scale, when the table has ``predicted_sd``.

    An sd of the expected expression (``covers="expected"``) is checked against the measured values with count
    sampling at each spot's depth (:func:`hyperst.metrics.observed_interval_metrics`); one saved before hyperst 0.1
    covers measured values directly.
    """
    if Key.PREDICTED_SD not in table.layers:
        return None
    sd = np.asarray(table.layers[Key.PREDICTED_SD], dtype=np.float64)[measured]
    record = table.uns.get(Key.UNS, {})
    calibration = record.get("uncertainty", {}).get("calibration", {})
    nominal = {"nominal_coverage": INTERVAL_COVERAGE}
    if calibration.get("covers") == "expected":
        library = table.obs[Key.LIBRARY_SIZE].to_numpy(np.float64)[measured] if Key.LIBRARY_SIZE in table.obs else None
        if library is not None and np.isfinite(library).all() and (library > 0).all():
            depth = library / float(calibration["reference_depth"])
            scale = record.get("target", {}).get("scale", "raw")
            per_gene, summary = metrics.observed_interval_metrics(
                observed, predicted, sd, depth, table.var_names, scale=scale, coverage=INTERVAL_COVERAGE
            )
            return per_gene, summary | nominal | {"interval": "measured value at the spot's depth"}
        logger.warning(
            "`predicted_sd` covers the expected expression; without obs['%s'] (each spot's total count) the "
            "interval is checked against the measured values as they are, which shallow spots miss more often.",
            Key.LIBRARY_SIZE,
        )
    per_gene, summary = metrics.uncertainty_metrics(observed, predicted, sd, table.var_names, z=INTERVAL_Z)
    return per_gene, summary | nominal | {"interval": "predicted +- z x predicted_sd"}


def _scales(
    table: AnnData, observed: np.ndarray, measured: np.ndarray, table_key: str
) -> tuple[np.ndarray, np.ndarray | None, Normalisation]:
    """Return the measured values as ``log2(1 + count)`` and library-size normalised, from the model's scale.

    Library sizes come from ``obs["hyperst_library_size"]`` (written by ``predict``). Without them the normalised
    scale falls back to normalising over the panel, and a model trained on normalised targets cannot be scored on
    raw counts (its observed values are scored as they are); both are logged.
    """
    target = table.uns.get(Key.UNS, {}).get("target", {"scale": "raw"})
    scale, reference = target.get("scale", "raw"), target.get("reference_library_size")
    library = (
        table.obs[Key.LIBRARY_SIZE].to_numpy(dtype=np.float64)[measured] if Key.LIBRARY_SIZE in table.obs else None
    )
    if library is None or not (np.isfinite(library).all() and (library > 0).all()):
        logger.warning(
            "Table '%s' has no usable obs['%s'] (each spot's total count, written by `hst.tl.predict`): the "
            "normalised scores normalise over the panel instead%s.",
            table_key,
            Key.LIBRARY_SIZE,
            "" if scale == "raw" else ", and the raw scores compare values on the model's normalised scale",
        )
        return observed, None, "panel"
    counts = counts_from_expression(observed, scale, library, reference)
    raw = observed if scale == "raw" else log2p(counts)  # raw values as written, not through a round trip
    return raw, expression(counts, "normalised", library, metrics.TARGET_SUM), "library_size"


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
