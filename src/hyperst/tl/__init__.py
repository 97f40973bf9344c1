"""Tools: fit HyperST, predict expression from H&E, evaluate and cross-validate."""

from __future__ import annotations

from hyperst.tl._cross_validate import cross_validate
from hyperst.tl._evaluate import evaluate
from hyperst.tl._fit import fit
from hyperst.tl._predict import predict

__all__ = ["cross_validate", "evaluate", "fit", "predict"]
