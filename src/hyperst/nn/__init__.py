"""Torch building blocks of HyperST: residual MLPs, alignment heads, and the HCA and HEA losses.

Imports nothing from the rest of :mod:`hyperst` except :mod:`hyperst.geometry`.
"""

from __future__ import annotations

from hyperst.nn._alignment import MODALITIES, STREAMS, EuclideanAlignment, HyperbolicAlignment, modality_of
from hyperst.nn._config import HyperSTConfig
from hyperst.nn._contrastive import HCA_PAIRS, HierarchicalContrastiveLoss, info_nce
from hyperst.nn._entailment import HierarchicalEntailmentLoss, entailment_loss, entailment_pairs
from hyperst.nn._resmlp import ResidualBlock, ResidualMLP

__all__ = [
    "HCA_PAIRS",
    "MODALITIES",
    "STREAMS",
    "EuclideanAlignment",
    "HierarchicalContrastiveLoss",
    "HierarchicalEntailmentLoss",
    "HyperSTConfig",
    "HyperbolicAlignment",
    "ResidualBlock",
    "ResidualMLP",
    "entailment_loss",
    "entailment_pairs",
    "info_nce",
    "modality_of",
]
