"""Feature scaling of frozen encoders, in one place: how a slide's features reach the network.

Two steps, both on frozen features (a trainable encoder's outputs are not scaled):

1. with ``feature_scaling="section"`` each section's features are standardised over the section's own spots
   (:func:`standardise_per_section`), so a stain or scanner shift between slides cancels; with ``"training"``
   they stay as the encoder gives them (:func:`scaled_features`);
2. each member's :class:`~hyperst.module.FeatureScaler` (part of the saved network) standardises them with the
   statistics of the spots it was fitted on: the training spots, or a new lab's spots when
   :func:`hyperst.tl.adapt` refits it (:func:`fit_scalers`).

The target's scale (raw or normalised counts) is another matter: :mod:`hyperst.data._scale`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from hyperst._constants import FeatureScaling
    from hyperst.model._training_data import Features
    from hyperst.module import ImageToExpression


def scaled_features(features: Features, section_of: np.ndarray, feature_scaling: FeatureScaling) -> Features:
    """Frozen features as the network sees them before its scaler: per-section standardised if configured."""
    if feature_scaling == "training":
        return features
    spot, niche = (standardise_per_section(f, section_of) for f in features)
    return spot, niche


def standardise_per_section(features: np.ndarray, section_of: np.ndarray) -> np.ndarray:
    """Standardise ``(n, d)`` features within each section (mean 0, sd 1 per column; constant columns centred)."""
    out = np.empty_like(features, dtype=np.float32)
    for section in np.unique(section_of):
        rows = section_of == section
        block = features[rows].astype(np.float64)
        std = block.std(axis=0)
        out[rows] = (block - block.mean(axis=0)) / np.where(std > 1e-8, std, 1.0)
    return out


def fit_scalers(members: Sequence[ImageToExpression], features: Features, rows: np.ndarray) -> None:
    """Fit every member's feature scaler on the spot and niche features (:func:`scaled_features`) of ``rows``."""
    statistics = torch.from_numpy(np.concatenate([f[rows] for f in features]))
    for member in members:
        member.scaler.fit(statistics)
