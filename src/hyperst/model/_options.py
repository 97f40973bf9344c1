"""The options of :meth:`HyperST.train <hyperst.HyperST.train>` in groups, as scvi-tools groups them.

``trainer_kwargs`` go to Lightning's ``Trainer`` (:data:`~hyperst._constants.TRAINER_DEFAULTS`), ``plan_kwargs`` to
the training plan's optimiser (:data:`~hyperst._constants.PLAN_DEFAULTS`) and ``loader_kwargs`` to the crop and
feature loaders (:data:`~hyperst._constants.LOADER_DEFAULTS`). The keywords each group replaced still work for one
release, with a :class:`DeprecationWarning` that names the group.
"""

from __future__ import annotations

import warnings
from typing import Any

from hyperst._constants import LOADER_DEFAULTS, PLAN_DEFAULTS, TRAINER_DEFAULTS

GROUPS = {"trainer_kwargs": TRAINER_DEFAULTS, "plan_kwargs": PLAN_DEFAULTS, "loader_kwargs": LOADER_DEFAULTS}


def group_options(
    grouped: dict[str, dict[str, Any] | None], legacy: dict[str, Any], *, caller: str = "HyperST.train"
) -> dict[str, dict[str, Any]]:
    """Return every group (``"trainer_kwargs"``, ...) complete with defaults; ``legacy``: the old flat keywords.

    Raises a ``TypeError`` for a keyword no group knows, or one given both flat and in its group.
    """
    out = {}
    for group, defaults in GROUPS.items():
        given = dict(grouped.get(group) or {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise TypeError(f"Unknown `{group}` of `{caller}`: {unknown}; it takes {sorted(defaults)}.")
        for name in [k for k in legacy if k in defaults]:
            if name in given:
                raise TypeError(f"`{name}` was given twice, as a keyword and in `{group}`; pass it in `{group}` only.")
            warnings.warn(
                f"`{caller}({name}=...)` is deprecated; pass `{group}={{{name!r}: ...}}`.", DeprecationWarning, 3
            )
            given[name] = legacy.pop(name)
        out[group] = defaults | given
    if legacy:
        raise TypeError(f"`{caller}` got unexpected keyword argument(s) {sorted(legacy)}.")
    return out
