"""The options of :meth:`HyperST.train <hyperst.HyperST.train>` in groups, as scvi-tools groups them.

``trainer_kwargs`` go to Lightning's ``Trainer`` (:data:`~hyperst._constants.TRAINER_DEFAULTS`), ``plan_kwargs`` to
the training plan's optimiser (:data:`~hyperst._constants.PLAN_DEFAULTS`) and ``loader_kwargs`` to the crop and
feature loaders (:data:`~hyperst._constants.LOADER_DEFAULTS`). The keywords the groups replaced, and the old names
of the row arguments and row positions as ``fit_scaler``, still work for one release through
:func:`accepts_old_keywords`, with a :class:`DeprecationWarning` that names the new form.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from hyperst._constants import LOADER_DEFAULTS, PLAN_DEFAULTS, TRAINER_DEFAULTS
from hyperst.data import stored_features
from hyperst.train import inference_device

GROUPS = {"trainer_kwargs": TRAINER_DEFAULTS, "plan_kwargs": PLAN_DEFAULTS, "loader_kwargs": LOADER_DEFAULTS}
RENAMED = {"train": "train_rows", "validation": "validation_rows"}  # old keyword -> new, of `HyperST.train`


def group_options(grouped: dict[str, dict[str, Any] | None], *, caller: str = "HyperST.train") -> dict[str, dict]:
    """Return every group (``"trainer_kwargs"``, ...) of ``grouped`` complete with its defaults.

    Raises a ``TypeError`` naming the keys a group does not take.
    """
    out = {}
    for group, defaults in GROUPS.items():
        given = dict(grouped.get(group) or {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise TypeError(f"Unknown `{group}` of `{caller}`: {unknown}; it takes {sorted(defaults)}.")
        out[group] = defaults | given
    return out


def upgrade_keywords(kwargs: dict[str, Any], *, caller: str = "HyperST.train") -> dict[str, Any]:
    """Return ``kwargs`` with every replaced keyword moved to its new place, warning once per keyword."""
    kwargs = dict(kwargs)
    for old, new in RENAMED.items():
        if old in kwargs:
            if new in kwargs:
                raise TypeError(f"`{old}` and `{new}` are one argument; pass `{new}` only.")
            _warn(f"`{caller}({old}=...)` is deprecated; pass `{new}=`.")
            kwargs[new] = kwargs.pop(old)
    for group, defaults in GROUPS.items():
        for name in [k for k in kwargs if k in defaults]:
            given = dict(kwargs.get(group) or {})
            if name in given:
                raise TypeError(f"`{name}` was given twice, as a keyword and in `{group}`; pass it in `{group}` only.")
            _warn(f"`{caller}({name}=...)` is deprecated; pass `{group}={{{name!r}: ...}}`.")
            kwargs[group] = given | {name: kwargs.pop(name)}
    return kwargs


def accepts_old_keywords(method: Callable) -> Callable:
    """Let ``HyperST.train`` take the keywords it replaced (:func:`upgrade_keywords`), ``features=``, row positions.

    ``features=`` (every spot's frozen features, deprecated) go into the feature store, which ``train`` reads;
    ``fit_scaler=<row positions>`` refits the scaler on those rows (:meth:`HyperST.refit_scaler`) and trains with
    ``fit_scaler=False``.
    """

    @functools.wraps(method)
    def wrapper(model: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs = upgrade_keywords(kwargs)
        spots = args[0] if args else kwargs.get("spots")
        features = kwargs.pop("features", None)
        if features is not None:
            _warn("`HyperST.train(features=...)` is deprecated: the feature store keeps a slide's frozen features.")
            stored_features(spots, model.encoder, lambda: features)
        rows = kwargs.get("fit_scaler")
        if rows is not None and not isinstance(rows, bool | np.bool_):
            _warn(
                "`HyperST.train(fit_scaler=<row positions>)` is deprecated; call `model.refit_scaler(spots, rows)` "
                "and train with `fit_scaler=False`."
            )
            groups = group_options({group: kwargs.get(group) for group in GROUPS})
            device = inference_device(groups["trainer_kwargs"]["accelerator"])  # as `train` computes features
            model.refit_scaler(spots, rows, device=device, n_jobs=groups["loader_kwargs"]["n_jobs"])
            kwargs["fit_scaler"] = False
        return method(model, *args, **kwargs)

    return wrapper


def _warn(message: str) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=4)  # the caller of `HyperST.train`
