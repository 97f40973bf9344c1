"""What every image encoder provides: crops in, one feature vector per crop out."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


class ImageEncoder(nn.Module):
    """Base class of image encoders: ``(batch, 3, input_size, input_size)`` floats in [0, 1] -> ``(batch, out_dim)``.

    Each encoder normalises its input itself (e.g. with ImageNet statistics), so callers only resample crops to
    ``input_size`` and scale them to [0, 1]. A ``frozen`` encoder has no trainable parameters: the model computes
    its features once per crop, caches them and trains only what follows. ``config()`` returns the JSON-safe
    keyword arguments that rebuild the encoder (weights are saved separately).

    Subclasses set ``name`` (the registry key), ``out_dim``, ``input_size`` and ``frozen``, and implement
    ``forward``. ``cpu_features`` encoders compute their features with numpy on the CPU (no torch kernels, so the
    result does not depend on torch's thread count): crop-reading worker processes then encode next to reading.
    ``pretrained`` encoders load their weights from a source (a hub, a file) when built: a saved
    model stores only their trainable parameters (e.g. LoRA adapters), not gigabytes of a public backbone.
    """

    name: ClassVar[str]
    pretrained: ClassVar[bool] = False
    cpu_features: ClassVar[bool] = False
    out_dim: int
    input_size: int
    frozen: bool

    def config(self) -> dict[str, Any]:
        """JSON-safe keyword arguments that rebuild this encoder with ``type(self)(**config)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement `config()` to be saved with a model.")

    def forward(self, crops: torch.Tensor) -> torch.Tensor:  # noqa: D102
        raise NotImplementedError
