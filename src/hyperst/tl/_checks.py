"""Checks of the objects ``hst.tl``'s functions take, before any work: the right types in the right places."""

from __future__ import annotations

from typing import Any

from hyperst.data import check_spatialdata


def check_sdata_and_model(sdata: Any, model: Any, function: str) -> None:
    """Raise a ``TypeError`` unless ``sdata`` is a SpatialData object and ``model`` a trained-or-not ``HyperST``.

    Swapped arguments and ``None`` (a model that was never assigned) get a message naming what was expected.
    """
    check_spatialdata(sdata, function)
    check_model(model, function)


def check_model(model: Any, function: str) -> None:
    """Raise a ``TypeError`` naming ``hst.HyperST`` unless ``model`` is one (``None``: a model never assigned)."""
    from hyperst.model import HyperST

    if not isinstance(model, HyperST):
        raise TypeError(
            f"`{function}` takes a `hst.HyperST` model as its second argument; got {type(model).__name__}. "
            "Train one with `model = hst.tl.fit(sdata)` or load one with `model = hst.HyperST.load(path)`."
        )
