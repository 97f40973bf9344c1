"""Lightning only: the training plan, its callbacks, the runs of a fit and of a multi-device prediction, devices.

Imports :mod:`hyperst.module` (what it trains) and nothing above it.
"""

from __future__ import annotations

from hyperst.train._callbacks import History, RestoreBestWeights
from hyperst.train._devices import default_precision, inference_device, lightning_device, torch_device
from hyperst.train._plan import HyperSTTrainingPlan
from hyperst.train._predict import BatchPredictor, SpawningStrategyError, check_devices, run_prediction
from hyperst.train._runner import run_training

__all__ = [
    "BatchPredictor",
    "History",
    "HyperSTTrainingPlan",
    "RestoreBestWeights",
    "SpawningStrategyError",
    "check_devices",
    "default_precision",
    "inference_device",
    "lightning_device",
    "run_prediction",
    "run_training",
    "torch_device",
]
