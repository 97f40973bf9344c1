"""Frozen hand-crafted image features from squidpy: colour summary, colour histogram and grey-level texture."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from hyperst.nn.encoders._squidpy_batch import (
    histogram_features,
    summary_features,
    texture_features,
    value_counts,
)
from hyperst.nn.encoders.base import ImageEncoder

_TEXTURE_PROPS = ("contrast", "homogeneity", "correlation", "ASM")
_TEXTURE_ANGLES = (0.0, np.pi / 2)


class SquidpyEncoder(ImageEncoder):
    """Per crop: RGB quantiles, mean and sd, an RGB histogram and grey-level co-occurrence texture (squidpy).

    The features are those of :func:`squidpy.im.calculate_image_features` (``"summary"``, ``"histogram"``,
    ``"texture"``) with squidpy's definitions and names, on hyperst's own crops at physical scale, so spot and
    niche crops, training and prediction share one definition. They are computed for a whole batch at once
    (:mod:`hyperst.nn.encoders._squidpy_batch`) instead of through one :class:`squidpy.im.ImageContainer` per crop,
    whose construction cost ~30 ms a crop; a test holds the values to the ``ImageContainer`` methods. Texture runs
    on the grey image at two angles. Frozen: the model computes these once per crop and caches them.

    Parameters
    ----------
    input_size
        Side of the (square) crops in pixels.
    histogram_bins
        Bins of the per-channel colour histogram.
    """

    name: ClassVar[str] = "squidpy"
    cpu_features: ClassVar[bool] = True

    def __init__(self, input_size: int = 64, histogram_bins: int = 16):
        super().__init__()
        if input_size < 8 or histogram_bins < 2:
            raise ValueError(f"Need `input_size` >= 8 and `histogram_bins` >= 2, got {input_size}, {histogram_bins}.")
        self.input_size, self.histogram_bins = input_size, histogram_bins
        self.frozen = True
        self._names: list[str] | None = None
        self.out_dim = len(self.feature_names)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, 3, input_size, input_size)`` crops in [0, 1] to ``(batch, out_dim)`` features."""
        images = (crops.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return torch.as_tensor(self.features(images), dtype=torch.float32, device=crops.device)

    def features(self, images: np.ndarray) -> np.ndarray:
        """``(batch, out_dim)`` float64 features of ``(batch, height, width, 3)`` uint8 RGB images.

        Columns follow :attr:`feature_names`: squidpy's feature names, sorted.
        """
        named = self._named_features(np.ascontiguousarray(images))
        return np.nan_to_num(np.stack([named[name] for name in self.feature_names], axis=1))

    @property
    def feature_names(self) -> list[str]:
        """The squidpy name of each output column, in order (``summary_ch-0_mean``, ``texture_ch-0_ASM_...``)."""
        if self._names is None:
            self._names = sorted(self._named_features(np.zeros((1, 8, 8, 3), dtype=np.uint8)))
        return self._names

    def _named_features(self, images: np.ndarray) -> dict[str, np.ndarray]:
        counts = value_counts(images)  # shared by the summary and the histogram
        return {
            **summary_features(images, counts=counts),
            **histogram_features(images, bins=self.histogram_bins, v_range=(0, 255), counts=counts),
            **texture_features(grey(images)[..., None], props=_TEXTURE_PROPS, angles=_TEXTURE_ANGLES),
        }

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder."""
        return {"input_size": self.input_size, "histogram_bins": self.histogram_bins}


def grey(images: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601 weights) of ``(..., 3)`` uint8 RGB images, truncated to uint8: the texture's grey image."""
    return (images.astype(np.float32) @ _LUMA).astype(np.uint8)


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
