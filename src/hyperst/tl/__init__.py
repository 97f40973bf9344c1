"""Tools: fit HyperST, predict expression from H&E, evaluate and cross-validate."""

from __future__ import annotations

from hyperst.tl._evaluate import evaluate

__all__ = ["evaluate"]
