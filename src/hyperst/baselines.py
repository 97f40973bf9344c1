"""Baselines and controls of HyperST: plain numpy / scikit-learn kernels on ``(spots, features)`` matrices.

The same kernels serve :func:`hyperst.tl.cross_validate` (``baselines=``) and the benchmarks, so each method
exists once. Every kernel takes image features of training and test spots (the frozen encoder's spot and niche
features, concatenated) and the training spots' expression, and returns the test spots' predicted expression:

- ``"ridge"``: a linear probe, HEST's benchmark: standardise, PCA, ridge regression with its penalty chosen by
  efficient leave-one-out cross-validation on the training spots;
- ``"knn"``: BLEEP-style retrieval: the mean expression of the nearest training spots in standardised feature space;
- ``"shuffled"``: a control: the ridge probe on features permuted across spots within each section, for training
  and test spots alike, so an image no longer belongs to its spot; whatever it scores comes from the expression's
  mean and from what sections share, not from the image.

Container-free (the adaptor lives in ``hst.tl``); scikit-learn loads on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hyperst._constants import BASELINE_CONTROLS, Baseline, check_choice

MAX_COMPONENTS = 256  # PCA components of the ridge probe, at most (fewer with fewer features or spots)
RIDGE_ALPHAS = np.logspace(-2, 5, 15)  # penalties RidgeCV chooses from by leave-one-out error
KNN_NEIGHBOURS = 50  # training spots averaged by the retrieval baseline (fewer when there are fewer)


def ridge_model(shape: tuple[int, int], *, seed: int = 0) -> Any:
    """Return the unfitted ridge probe for training data of ``shape = (spots, features)``.

    A scikit-learn pipeline: ``StandardScaler``, ``PCA`` to ``min(256, features, spots - 1)`` components,
    ``RidgeCV`` with alpha in ``10**-2 .. 10**5`` (efficient leave-one-out CV, one alpha for all genes).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_components = min(MAX_COMPONENTS, shape[1], shape[0] - 1)
    return make_pipeline(StandardScaler(), PCA(n_components, random_state=seed), RidgeCV(alphas=RIDGE_ALPHAS))


def ridge_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Fit :func:`ridge_model` on ``(x_train, y_train)`` and predict ``x_test``: ``(n_test, genes)``."""
    predicted = ridge_model(x_train.shape, seed=seed).fit(x_train, y_train).predict(x_test)
    return predicted.reshape(len(x_test), -1)  # scikit-learn drops the gene axis of a one-gene panel


def knn_retrieval(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, k: int = KNN_NEIGHBOURS
) -> np.ndarray:
    """Mean expression of the ``k`` nearest training spots (Euclidean, standardised features): ``(n_test, genes)``."""
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=min(k, len(x_train))))
    return model.fit(x_train, y_train).predict(x_test)


def shuffle_within(groups: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Row order that permutes the rows within each group (section) and keeps every group's rows in place."""
    groups = np.asarray(groups)
    order = np.arange(len(groups))
    rng = np.random.default_rng(seed)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        order[rows] = rng.permutation(rows)
    return order


def predict_baselines(
    features: np.ndarray,
    targets: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    methods: Sequence[Baseline],
    groups: np.ndarray,
    seed: int = 0,
    k: int = KNN_NEIGHBOURS,
) -> dict[str, np.ndarray]:
    """Predict the ``test`` spots with every baseline in ``methods``, trained on the ``train`` spots.

    Parameters
    ----------
    features
        Image features of every spot, ``(n_spots, d)``.
    targets
        Expression of every spot on the scale to predict, ``(n_spots, genes)`` (only ``train`` rows are read).
    train, test
        Row positions of the training and test spots.
    methods
        Baselines to run (``"ridge"``, ``"knn"``, ``"shuffled"``).
    groups
        Section of every spot, ``(n_spots,)``: the shuffled control permutes features within each.
    seed
        Seed of the PCA and of the shuffled control's permutation.
    k
        Neighbours of ``"knn"``.

    Returns
    -------
    ``{method: (len(test), genes) predictions}``, in the order of ``methods``.
    """
    features, targets = np.asarray(features, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    if len(features) != len(targets) or len(groups) != len(features):
        raise ValueError(
            f"features, targets and groups must have one row per spot, got {len(features)}, {len(targets)} and "
            f"{len(groups)} rows."
        )
    if len(train) < 2:
        raise ValueError(f"The baselines need at least 2 training spots, got {len(train)}.")
    predictions = {}
    for method in methods:
        check_choice("baselines", method, Baseline)
        if method == "ridge":
            predictions[method] = ridge_probe(features[train], targets[train], features[test], seed=seed)
        elif method == "knn":
            predictions[method] = knn_retrieval(features[train], targets[train], features[test], k=k)
        else:  # the shuffled-image control
            shuffled = features[shuffle_within(groups, seed=seed)]
            predictions[method] = ridge_probe(shuffled[train], targets[train], shuffled[test], seed=seed)
    return predictions


def check_baselines(methods: Sequence[str] | None) -> tuple[Baseline, ...]:
    """Return ``methods`` as a tuple of known baselines (``None``: none); raise naming the unknown or repeated one."""
    if methods is None:
        return ()
    if isinstance(methods, str):
        raise TypeError(f"`baselines` is a sequence of names, e.g. ({methods!r},), got the string {methods!r}.")
    methods = tuple(methods)
    for method in methods:
        check_choice("baselines", method, Baseline)
    if len(set(methods)) < len(methods):
        raise ValueError(f"`baselines` names a method twice: {methods}.")
    return methods


def comparable(methods: Sequence[str]) -> list[str]:
    """Return the baselines among ``methods`` that HyperST is compared with: every one but the controls."""
    return [m for m in methods if m not in BASELINE_CONTROLS]
