"""The baselines of :func:`hyperst.tl.cross_validate`: their features, their scores per fold, and the verdict.

The adaptor between the prepared spots of a cross-validation and the container-free kernels of
:mod:`hyperst.baselines`: every baseline sees the fold's training spots, the same image features and the same
targets (the model's scale) as HyperST, and is scored on the same test spots with the same metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hyperst._constants import DEFAULT_ENCODER, Column, Scale, choices
from hyperst._logging import logger

if TYPE_CHECKING:
    from hyperst.data import SpotData
    from hyperst.model import HyperST


def baseline_features(
    model: HyperST, spots: SpotData, features: tuple[np.ndarray, np.ndarray] | None, **encoding: Any
) -> np.ndarray:
    """Image features the baselines read, ``(n_spots, d)``: the frozen encoder's spot and niche features side by side.

    ``features`` are the model's frozen features (``None`` for a trainable encoder, whose features change as it
    trains: the baselines then read the frozen ``"squidpy"`` features, from the feature store or computed once;
    ``encoding`` passes ``device``, ``n_jobs`` and ``progress`` to that computation).
    """
    if features is None:
        from hyperst.model import HyperST

        logger.info(
            "The %r encoder is trained with the model: the baselines read the frozen %r features of the same crops.",
            model.encoder.name,
            DEFAULT_ENCODER,
        )
        features = HyperST(model.genes, encoder=DEFAULT_ENCODER).frozen_features(spots, **encoding)
    return np.concatenate([np.asarray(f, dtype=np.float32) for f in features], axis=1)


def score_baselines(
    predictions: dict[str, np.ndarray], scorer: Any, *, observed: np.ndarray, normalised: np.ndarray
) -> dict[str, float]:
    """Mean r of every baseline's predictions on both scales, as columns :meth:`Column.baseline` names.

    ``scorer(observed, predicted, normalised)`` returns the summary columns of one prediction (``pcc_mean`` and
    ``pcc_mean_norm`` among them), as it does for HyperST's.
    """
    row = {}
    for method, predicted in predictions.items():
        summary = scorer(observed, predicted, normalised)
        for scale in choices(Scale):
            row[Column.baseline(method, scale)] = summary[Column.scaled(Column.PCC, scale)]
    return row


def compare(table: pd.DataFrame, methods: Sequence[str], compared: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Add HyperST's paired difference to the best baseline per fold; return the summary per scale and log it.

    The best baseline on a scale is the one of ``compared`` (controls excluded) with the highest mean r over the
    folds; ``table[Column.scaled(Column.DIFFERENCE, scale)]`` is HyperST's mean r minus its mean r on each fold.
    The summary holds the best baseline, the mean and sd of the differences, the folds HyperST is ahead on, every
    method's mean r and a one-line verdict, which is also logged.
    """
    summary = {}
    for scale in choices(Scale):
        hyperst = table[Column.scaled(Column.PCC, scale)]
        means = {m: float(table[Column.baseline(m, scale)].mean()) for m in methods}
        entry: dict[str, Any] = {"hyperst": float(hyperst.mean()), "baselines": means}
        if compared:
            best = max(compared, key=lambda m: means[m])
            difference = hyperst - table[Column.baseline(best, scale)]
            table[Column.scaled(Column.DIFFERENCE, scale)] = difference
            sd = float(difference.std(ddof=1)) if len(difference) > 1 else float("nan")
            entry |= {
                "best": best,
                "difference": float(difference.mean()),
                "difference_sd": sd,
                "ahead": int((difference > 0).sum()),
                "folds": len(difference),
            }
            entry["verdict"] = verdict(entry, scale)
            logger.info("%s", entry["verdict"])
        controls = [m for m in methods if m not in compared]
        if controls:
            shown = ", ".join(f"{m} {means[m]:.3f}" for m in controls)
            logger.info("Controls, mean r over the folds (%s): %s (HyperST %.3f).", scale, shown, entry["hyperst"])
        summary[scale] = entry
    return summary


def verdict(entry: dict[str, Any], scale: Scale) -> str:
    """One line, e.g. ``"HyperST ahead of ridge on 5 of 6 folds, +0.012 ± 0.010 mean r (normalised)."``."""
    spread = "" if np.isnan(entry["difference_sd"]) else f" ± {entry['difference_sd']:.3f}"
    folds = f"{entry['folds']} fold{'s' if entry['folds'] != 1 else ''}"
    return (
        f"HyperST ahead of {entry['best']} on {entry['ahead']} of {folds}, {entry['difference']:+.3f}{spread} "
        f"mean r ({scale})."
    )
