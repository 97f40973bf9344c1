"""``hst.tl.cross_validate``: leave-one-group-out (or k-fold by group) training and evaluation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hyperst import metrics
from hyperst._constants import INTERVAL_Z, OOD_THRESHOLD, Key
from hyperst._docs import doc_layer, doc_params, doc_table_key_counts
from hyperst._logging import logger

if TYPE_CHECKING:
    from spatialdata import SpatialData


@doc_params(table_key=doc_table_key_counts, layer=doc_layer)
def cross_validate(
    sdata: SpatialData,
    *,
    groupby: str = Key.SECTION,
    table_key: str = Key.TABLE,
    n_splits: int | None = None,
    genes: list[str] | None = None,
    layer: str | None = None,
    seed: int = 0,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Train on all groups but one and score the held-out one, for every group (or ``n_splits`` folds of groups).

    Crops and niches are prepared once; each fold trains a fresh model with :func:`hyperst.tl.fit`'s options
    on the training groups only (its early-stopping split is drawn from those groups too) and predicts the
    held-out spots. When sections of one patient land on both sides, a
    :class:`~hyperst.data.GroupLeakageWarning` says so: use ``groupby="patient"`` for patient-level estimates.

    Parameters
    ----------
    sdata
        SpatialData with H&E images, spots and a counts table.
    groupby
        Column of ``obs`` whose groups are held out (``"section"`` or ``"patient"``).
    {table_key}
    n_splits
        ``None``: leave one group out; an integer: that many folds of whole groups.
    genes
        Gene panel (see :func:`hyperst.tl.fit`).
    {layer}
    seed
        Seed of every fold's training (and of the fold assignment with ``n_splits``).
    **fit_kwargs
        Options of :func:`hyperst.tl.fit` (``encoder``, ``max_epochs``, ``embed_dim``, ...).

    Returns
    -------
    One row per fold: the held-out group(s), spot counts, and every summary metric of
    :func:`hyperst.tl.evaluate` on raw (``pcc_mean``, ``pcc@10``, ...) and library-size-normalised values (suffix
    ``_norm``); for a calibrated ensemble also ``coverage`` and ``sd_error_spearman``, and with an
    out-of-distribution reference ``ood_flagged``, the share of held-out spots flagged.

    Examples
    --------
    >>> cv = hst.tl.cross_validate(sdata, groupby="section", max_epochs=20)  # doctest: +SKIP
    >>> cv[["held_out", "pcc_mean", "pcc_mean_norm"]]  # doctest: +SKIP
    """
    from hyperst.data import check_spatialdata, expression, group_kfold, leave_one_group_out, log2p
    from hyperst.tl._fit import prepare_fit

    check_spatialdata(sdata, "hst.tl.cross_validate")
    job = prepare_fit(sdata, {"table_key": table_key, "genes": genes, "layer": layer, "seed": seed, **fit_kwargs})
    spots = job.spots
    if n_splits is None:
        splits = leave_one_group_out(spots.obs, groupby)
    else:
        splits = group_kfold(spots.obs, groupby, n_splits=n_splits, seed=seed)
    rows = []
    for fold, split in enumerate(splits):
        train = split.train[spots.trainable[split.train]]
        test = split.test[spots.trainable[split.test]]
        logger.info(
            "Fold %d/%d: holding out %s (%d spots).", fold + 1, len(splits), ", ".join(split.test_groups), len(test)
        )
        model = job.new_model()  # a frozen encoder encodes in the first fold; the others read the feature store
        job.train(model, train)
        outputs = model.predict(spots, test, device=job.inference_device, n_jobs=job.n_jobs)
        rows.append(
            {"fold": fold, "held_out": ", ".join(split.test_groups), "n_train": len(train), "n_test": len(test)}
        )
        counts, library = spots.counts[test], spots.library_size[test]
        normalised = expression(counts, "normalised", library, metrics.TARGET_SUM)
        rows[-1].update(_summaries(log2p(counts), outputs["predicted"], job.genes, normalised))
        if "predicted_sd" in outputs:  # on the model's scale, as `evaluate` scores it
            observed = log2p(model.scaled_counts(spots)[0][test])
            sd, predicted = outputs["predicted_sd"], outputs["predicted"]
            rows[-1].update(metrics.uncertainty_metrics(observed, predicted, sd, job.genes, z=INTERVAL_Z)[1])
        if "ood" in outputs:
            rows[-1]["ood_flagged"] = float(np.mean(outputs["ood"] > OOD_THRESHOLD))
    return pd.DataFrame(rows).set_index("fold")


def _summaries(observed: np.ndarray, predicted: np.ndarray, genes: list[str], normalised: np.ndarray) -> dict:
    summary = metrics.score(observed, predicted, genes, normalised_observed=normalised)[1]
    return summary["raw"] | {f"{k}_norm": v for k, v in summary["normalised"].items()}
