"""``hst.tl.cross_validate``: leave-one-group-out (or k-fold by group) training and evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hyperst import metrics
from hyperst._constants import INTERVAL_COVERAGE, OOD_THRESHOLD, Baseline, Column, Key
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
    baselines: Sequence[Baseline] | None = None,
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
    baselines
        Methods to run beside HyperST on the same folds, training spots, target scale, image features and panel
        (:mod:`hyperst.baselines`): ``"ridge"`` (a linear probe: PCA and ridge regression), ``"knn"`` (BLEEP-style
        retrieval: the mean expression of the 50 nearest training spots) and ``"shuffled"`` (a control: the ridge
        probe on features permuted across spots within each section; it should score near 0). They read the
        frozen encoder's spot and niche features; with a trained encoder (``"cnn"``, LoRA) the frozen
        ``"squidpy"`` features of the same crops (logged). They cost seconds per fold.
    **fit_kwargs
        Options of :func:`hyperst.tl.fit` (``encoder``, ``max_epochs``, ``embed_dim``, ...).

    Returns
    -------
    One row per fold: the held-out group(s), spot counts, and every summary metric of
    :func:`hyperst.tl.evaluate` on raw (``pcc_mean``, ``pcc@10``, ...) and library-size-normalised values (suffix
    ``_norm``); for a calibrated ensemble also ``coverage`` and ``sd_error_spearman``, and with an
    out-of-distribution reference ``ood_flagged``, the share of held-out spots flagged. With ``blend`` (a
    :func:`hyperst.tl.fit` option), HyperST's scores are the blend's, and ``pcc_mean_unblended`` /
    ``pcc_mean_norm_unblended`` those of the same fit's networks alone.

    With ``baselines``, also each baseline's mean r, ``pcc_mean_<method>`` and ``pcc_mean_norm_<method>``, and
    ``difference`` / ``difference_norm``: HyperST's mean r minus the best baseline's (the one with the highest mean
    over the folds, controls excluded) on each fold. ``result.attrs["baselines"]`` holds, per scale (``"raw"``,
    ``"normalised"``), the best baseline, the mean and sd of the paired differences, the folds HyperST is ahead
    on, every method's mean r and the one-line ``verdict`` that is also logged;
    :func:`hyperst.pl.cross_validation` draws it.

    Examples
    --------
    >>> cv = hst.tl.cross_validate(sdata, groupby="section", max_epochs=20)  # doctest: +SKIP
    >>> cv[["held_out", "pcc_mean", "pcc_mean_norm"]]  # doctest: +SKIP
    >>> cv = hst.tl.cross_validate(sdata, baselines=("ridge", "knn", "shuffled"))  # doctest: +SKIP
    >>> cv.attrs["baselines"]["normalised"]["verdict"]  # doctest: +SKIP
    """
    from hyperst import baselines as kernels
    from hyperst.data import check_spatialdata, expression, group_kfold, leave_one_group_out, log2p
    from hyperst.tl._baselines import baseline_features, compare, score_baselines
    from hyperst.tl._fit import prepare_fit

    check_spatialdata(sdata, "hst.tl.cross_validate")
    methods = kernels.check_baselines(baselines)
    job = prepare_fit(sdata, {"table_key": table_key, "genes": genes, "layer": layer, "seed": seed, **fit_kwargs})
    spots = job.spots
    if n_splits is None:
        splits = leave_one_group_out(spots.obs, groupby)
    else:
        splits = group_kfold(spots.obs, groupby, n_splits=n_splits, seed=seed)
    rows, image_features = [], None
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
        rows[-1].update(_summaries(log2p(counts), outputs["predicted"], normalised, job.genes))
        if model.blender is not None:  # the same fit's networks alone: what the fit without `blend` predicts
            alone = model.predict(spots, test, device=job.inference_device, n_jobs=job.n_jobs, blend=False)
            scorer = partial(_summaries, genes=job.genes)
            alone = {Column.UNBLENDED: alone["predicted"]}
            rows[-1].update(score_baselines(alone, scorer, observed=log2p(counts), normalised=normalised))
        if methods:
            if image_features is None:  # the model's frozen features (stored), or squidpy's for a trained encoder
                where = {"device": job.inference_device, "n_jobs": job.n_jobs}
                frozen = model.frozen_features(spots, **where) if model.encoder.frozen else None
                image_features = baseline_features(model, spots, frozen, progress=False, **where)
            targets = log2p(model.scaled_counts(spots)[0])  # the model's scale, as HyperST learns it
            by_method = kernels.predict_baselines(
                image_features, targets, train, test, methods=methods, groups=spots.section_of, seed=seed
            )
            scorer = partial(_summaries, genes=job.genes)
            rows[-1].update(score_baselines(by_method, scorer, observed=log2p(counts), normalised=normalised))
        if "predicted_sd" in outputs:  # on the model's scale, at each spot's depth, as `evaluate` scores it
            observed = log2p(model.scaled_counts(spots)[0][test])
            sd, predicted = outputs["predicted_sd"], outputs["predicted"]
            depth = library / model.calibration.reference_depth
            interval = metrics.observed_interval_metrics(
                observed, predicted, sd, depth, job.genes, scale=model.target, coverage=INTERVAL_COVERAGE
            )
            rows[-1].update(interval[1])
        if "ood" in outputs:
            rows[-1]["ood_flagged"] = float(np.mean(outputs["ood"] > OOD_THRESHOLD))
    table = pd.DataFrame(rows).set_index("fold")
    if methods:
        table.attrs[Column.BASELINES] = compare(table, methods, kernels.comparable(methods))
    return table


def _summaries(observed: np.ndarray, predicted: np.ndarray, normalised: np.ndarray, genes: list[str]) -> dict:
    summary = metrics.score(observed, predicted, genes, normalised_observed=normalised)[1]
    return summary["raw"] | {f"{k}_norm": v for k, v in summary["normalised"].items()}
