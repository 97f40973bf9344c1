"""Lightning only: the training plan, its callbacks, one function that runs a fit, and device selection.

Imports :mod:`hyperst.module` (what it trains) and nothing above it.
"""

from __future__ import annotations

from hyperst.train._callbacks import History, RestoreBestWeights
from hyperst.train._devices import default_precision, inference_device, lightning_device, torch_device
from hyperst.train._plan import HyperSTTrainingPlan
from hyperst.train._runner import run_training

__all__ = [
    "History",
    "HyperSTTrainingPlan",
    "RestoreBestWeights",
    "default_precision",
    "inference_device",
    "lightning_device",
    "run_training",
    "torch_device",
]
