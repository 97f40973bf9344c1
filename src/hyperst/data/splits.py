"""Group-aware splits: leave one section (or patient) out, or k folds of whole groups.

Serial sections of one patient share tissue architecture; a split by section that puts sections of one patient
on both sides is optimistic. Splitting by section warns (:class:`GroupLeakageWarning`) when that happens and a
patient column exists.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hyperst._constants import Key

if TYPE_CHECKING:
    from anndata import AnnData


class GroupLeakageWarning(UserWarning):
    """Sections of one patient are on both sides of a split."""


@dataclass(frozen=True)
class Split:
    """One train/test split as integer row positions.

    Attributes
    ----------
    train, test
        Row positions (into the ``obs`` that was split).
    test_groups
        The groups held out.
    """

    train: np.ndarray
    test: np.ndarray
    test_groups: tuple[str, ...]


def leave_one_group_out(
    obs: pd.DataFrame | AnnData, groupby: str = Key.SECTION, *, patient_key: str | None = Key.PATIENT
) -> list[Split]:
    """One split per group, holding that group out.

    Parameters
    ----------
    obs
        Spot annotations (a table's ``obs``, or the AnnData itself).
    groupby
        Column with the groups (``"section"`` or ``"patient"``).
    patient_key
        Column with patients, for the leakage warning when splitting by another column; ``None`` skips the check.

    Returns
    -------
    Splits in group order.
    """
    labels, groups = _groups(obs, groupby)
    if len(groups) < 2:
        raise ValueError(f"Leave-one-group-out needs at least 2 groups in {groupby!r}, found {groups.tolist()}.")
    splits = [_split(labels, [group]) for group in groups]
    _check_leakage(obs, splits, groupby, patient_key)
    return splits


def group_kfold(
    obs: pd.DataFrame | AnnData,
    groupby: str = Key.SECTION,
    *,
    n_splits: int = 5,
    seed: int = 0,
    patient_key: str | None = Key.PATIENT,
) -> list[Split]:
    """``n_splits`` folds of whole groups, balanced by spot count (largest group first into the smallest fold).

    Parameters
    ----------
    obs
        Spot annotations (a table's ``obs``, or the AnnData itself).
    groupby
        Column with the groups (``"section"`` or ``"patient"``).
    n_splits
        Number of folds (at most the number of groups).
    seed
        Seed for the order in which equally sized groups are placed.
    patient_key
        Column with patients, for the leakage warning when splitting by another column; ``None`` skips the check.

    Returns
    -------
    One split per fold.
    """
    labels, groups = _groups(obs, groupby)
    if not 2 <= n_splits <= len(groups):
        raise ValueError(f"`n_splits` must be between 2 and the number of groups ({len(groups)}), got {n_splits}.")
    rng = np.random.default_rng(seed)
    shuffled = groups[rng.permutation(len(groups))]
    sizes = pd.Series(labels).value_counts()
    order = sorted(shuffled, key=lambda group: -sizes[group])  # stable: ties keep the shuffled order
    folds: list[list[str]] = [[] for _ in range(n_splits)]
    load = np.zeros(n_splits)
    for group in order:
        fold = int(np.argmin(load))
        folds[fold].append(group)
        load[fold] += sizes[group]
    splits = [_split(labels, fold) for fold in folds]
    _check_leakage(obs, splits, groupby, patient_key)
    return splits


def _groups(obs: Any, groupby: str) -> tuple[np.ndarray, np.ndarray]:
    obs = getattr(obs, "obs", obs)
    if groupby not in obs:
        raise KeyError(f"Column {groupby!r} not found in obs (columns: {list(obs.columns)}); pass `groupby=`.")
    if obs[groupby].isna().any():
        raise ValueError(f"Column {groupby!r} has missing values; every spot needs a group.")
    labels = obs[groupby].astype(str).to_numpy()
    return labels, pd.unique(labels)


def _split(labels: np.ndarray, test_groups: list[str]) -> Split:
    test = np.isin(labels, test_groups)
    return Split(train=np.flatnonzero(~test), test=np.flatnonzero(test), test_groups=tuple(test_groups))


def _check_leakage(obs: Any, splits: list[Split], groupby: str, patient_key: str | None) -> None:
    obs = getattr(obs, "obs", obs)
    if patient_key is None or patient_key == groupby or patient_key not in obs:
        return
    patients = obs[patient_key].astype(str).to_numpy()
    shared = sorted({p for s in splits for p in set(patients[s.train]) & set(patients[s.test])})
    if shared:
        warnings.warn(
            f"Splitting by {groupby!r} puts sections of patient(s) {shared} in both training and test sets; "
            f"the scores will be optimistic. Split with `groupby={patient_key!r}` for patient-level estimates.",
            GroupLeakageWarning,
            stacklevel=3,
        )
