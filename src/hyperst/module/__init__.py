"""Everything a saved model holds, in pure torch (scvi-tools' "module"): it never sees AnnData or SpatialData.

:class:`HyperSTModule` is HyperST after the image encoder (projectors, gene encoders, alignment heads and losses,
decoder); :class:`ImageToExpression` is the full network (encoder, feature scaler, that head) fed by named batches.
"""

from __future__ import annotations

from hyperst.module._head import HyperSTLoss, HyperSTModule, HyperSTOutput, StreamTensors
from hyperst.module._network import BATCH_FEATURES, BATCH_GENES, BATCH_IMAGE, FeatureScaler, ImageToExpression
from hyperst.nn import HyperSTConfig

__all__ = [
    "BATCH_FEATURES",
    "BATCH_GENES",
    "BATCH_IMAGE",
    "FeatureScaler",
    "HyperSTConfig",
    "HyperSTLoss",
    "HyperSTModule",
    "HyperSTOutput",
    "ImageToExpression",
    "StreamTensors",
]
