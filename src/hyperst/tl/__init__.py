"""Tools: fit HyperST, adapt it to new slides, predict expression from H&E, evaluate and cross-validate."""

from __future__ import annotations

from hyperst.tl._adapt import adapt
from hyperst.tl._cross_validate import cross_validate
from hyperst.tl._evaluate import evaluate
from hyperst.tl._fit import check_fit_options as check_fit_options  # for the command line; not in __all__
from hyperst.tl._fit import fit
from hyperst.tl._predict import predict

__all__ = ["adapt", "cross_validate", "evaluate", "fit", "predict"]
