"""Frozen hand-crafted image features from squidpy: colour summary, colour histogram and grey-level texture."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from hyperst.nn.encoders.base import ImageEncoder

_TEXTURE_PROPS = ("contrast", "homogeneity", "correlation", "ASM")
_TEXTURE_ANGLES = (0.0, np.pi / 2)


class SquidpyEncoder(ImageEncoder):
    """Per crop: RGB quantiles, mean and sd, an RGB histogram and grey-level co-occurrence texture (squidpy).

    The features are those of :func:`squidpy.im.calculate_image_features` (``"summary"``, ``"histogram"``,
    ``"texture"``), computed with the same :class:`squidpy.im.ImageContainer` methods, but on hyperst's own crops
    at physical scale, so spot and niche crops, training and prediction share one definition. Texture runs on the
    grey image with two angles: a grey-level co-occurrence matrix costs the same at any crop size, and this keeps
    it to ~30 ms per crop. Frozen: the model computes these once per crop and caches them.

    Parameters
    ----------
    input_size
        Side of the (square) crops in pixels.
    histogram_bins
        Bins of the per-channel colour histogram.
    """

    name: ClassVar[str] = "squidpy"

    def __init__(self, input_size: int = 64, histogram_bins: int = 16):
        super().__init__()
        if input_size < 8 or histogram_bins < 2:
            raise ValueError(f"Need `input_size` >= 8 and `histogram_bins` >= 2, got {input_size}, {histogram_bins}.")
        self.input_size, self.histogram_bins = input_size, histogram_bins
        self.frozen = True
        self.out_dim = len(self._features(np.zeros((input_size, input_size, 3), dtype=np.uint8)))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, 3, input_size, input_size)`` crops in [0, 1] to ``(batch, out_dim)`` features."""
        images = (crops.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        features = np.stack([self._features(image) for image in images]) if len(images) else np.zeros((0, self.out_dim))
        return torch.as_tensor(features, dtype=torch.float32, device=crops.device)

    def _features(self, image: np.ndarray) -> np.ndarray:
        from squidpy.im import ImageContainer

        grey = (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.uint8)
        colour = ImageContainer(image, layer="image")
        features = {
            **colour.features_summary(layer="image"),
            **colour.features_histogram(layer="image", bins=self.histogram_bins, v_range=(0, 255)),
            **ImageContainer(grey[..., None], layer="image").features_texture(
                layer="image", props=_TEXTURE_PROPS, angles=_TEXTURE_ANGLES
            ),
        }
        return np.nan_to_num(np.array([features[k] for k in sorted(features)], dtype=np.float64))

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this encoder."""
        return {"input_size": self.input_size, "histogram_bins": self.histogram_bins}
