"""``hst.tl.cross_validate``: leave-one-group-out (or k-fold by group) training and evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hyperst import metrics
from hyperst._constants import INTERVAL_Z, OOD_THRESHOLD, Baseline, Column, Key
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
    out-of-distribution reference ``ood_flagged``, the share of held-out spots flagged.

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
    from hyperst.data import expression, group_kfold, leave_one_group_out, log2p
    from hyperst.tl._baselines import baseline_features, compare, score_baselines
    from hyperst.tl._fit import prepare_fit
    from hyperst.train import inference_device

    methods = kernels.check_baselines(baselines)
    job = prepare_fit(sdata, {"table_key": table_key, "genes": genes, "layer": layer, "seed": seed, **fit_kwargs})
    spots = job.spots
    if n_splits is None:
        splits = leave_one_group_out(spots.obs, groupby)
    else:
        splits = group_kfold(spots.obs, groupby, n_splits=n_splits, seed=seed)
    where = inference_device(job.train_options["accelerator"])
    rows, features, image_features = [], None, None
    for fold, split in enumerate(splits):
        train = split.train[spots.trainable[split.train]]
        test = split.test[spots.trainable[split.test]]
        logger.info(
            "Fold %d/%d: holding out %s (%d spots).", fold + 1, len(splits), ", ".join(split.test_groups), len(test)
        )
        model = job.new_model()
        if model.encoder.frozen and features is None:  # the same crops give the same features in every fold
            features = model.frozen_features(
                spots, device=where, n_jobs=job.train_options["n_jobs"], progress=job.train_options["progress_bar"]
            )
        job.train(model, train, features=features)
        outputs = model.predict(spots, test, device=where, features=features, n_jobs=job.train_options["n_jobs"])
        rows.append(
            {"fold": fold, "held_out": ", ".join(split.test_groups), "n_train": len(train), "n_test": len(test)}
        )
        counts, library = spots.counts[test], spots.library_size[test]
        normalised = expression(counts, "normalised", library, metrics.TARGET_SUM)
        rows[-1].update(_summaries(log2p(counts), outputs["predicted"], normalised, job.genes))
        if methods:
            if image_features is None:
                image_features = baseline_features(
                    model, spots, features, device=where, n_jobs=job.train_options["n_jobs"], progress=False
                )
            targets = log2p(model.scaled_counts(spots)[0])  # the model's scale, as HyperST learns it
            by_method = kernels.predict_baselines(
                image_features, targets, train, test, methods=methods, groups=spots.section_of, seed=seed
            )
            scorer = partial(_summaries, genes=job.genes)
            rows[-1].update(score_baselines(by_method, scorer, observed=log2p(counts), normalised=normalised))
        if "predicted_sd" in outputs:  # on the model's scale, as `evaluate` scores it
            observed = log2p(model.scaled_counts(spots)[0][test])
            sd, predicted = outputs["predicted_sd"], outputs["predicted"]
            rows[-1].update(metrics.uncertainty_metrics(observed, predicted, sd, job.genes, z=INTERVAL_Z)[1])
        if "ood" in outputs:
            rows[-1]["ood_flagged"] = float(np.mean(outputs["ood"] > OOD_THRESHOLD))
    table = pd.DataFrame(rows).set_index("fold")
    if methods:
        table.attrs[Column.BASELINES] = compare(table, methods, kernels.comparable(methods))
    return table


def _summaries(observed: np.ndarray, predicted: np.ndarray, normalised: np.ndarray, genes: list[str]) -> dict:
    summary = metrics.score(observed, predicted, genes, normalised_observed=normalised)[1]
    return summary["raw"] | {f"{k}_norm": v for k, v in summary["normalised"].items()}
