"""The model layer: :class:`HyperST` owns training, prediction, saving and loading (scvi-tools' "model").

Between the data layer (:mod:`hyperst.data`, which it reads) and the torch stack (:mod:`hyperst.train` ->
:mod:`hyperst.module` -> :mod:`hyperst.nn`); ``hst.tl`` calls it and writes its arrays into containers.
"""

from __future__ import annotations

from hyperst.model._blend import MIN_VALIDATION_SPOTS, Blender
from hyperst.model._model import HyperST, model_digest
from hyperst.model._uncertainty import Calibration, OODReference

__all__ = ["MIN_VALIDATION_SPOTS", "Blender", "Calibration", "HyperST", "OODReference", "model_digest"]
