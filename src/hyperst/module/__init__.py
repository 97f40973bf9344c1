"""Everything a saved model holds, in pure torch (scvi-tools' "module"): it never sees AnnData or SpatialData.

:class:`HyperSTHead` is HyperST after the image encoder (projectors, gene encoders, alignment heads and losses,
decoder); :class:`ImageToExpression` is the full network (encoder, feature scaler, that head) fed by named batches.
``HyperSTModule``, the head's old name, still works for one release, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any

from hyperst.module._head import HyperSTHead, HyperSTLoss, HyperSTOutput, StreamTensors
from hyperst.module._network import BATCH_FEATURES, BATCH_GENES, BATCH_IMAGE, FeatureScaler, ImageToExpression
from hyperst.nn import HyperSTConfig

__all__ = [
    "BATCH_FEATURES",
    "BATCH_GENES",
    "BATCH_IMAGE",
    "FeatureScaler",
    "HyperSTConfig",
    "HyperSTLoss",
    "HyperSTHead",
    "HyperSTOutput",
    "ImageToExpression",
    "StreamTensors",
]


def __getattr__(name: str) -> Any:
    if name == "HyperSTModule":  # renamed: a module is the whole network, the head is the head
        warnings.warn("`HyperSTModule` is deprecated; it is `HyperSTHead`.", DeprecationWarning, stacklevel=2)
        return HyperSTHead
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
