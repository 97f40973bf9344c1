"""Image encoders, chosen by name: ``build_encoder("cnn")``, ``build_encoder("uni", lora_blocks=11)``, ...

Names map to classes lazily, so a name's dependencies load only when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from hyperst.nn.encoders.base import ImageEncoder

# registry key -> "module:Class"; foundation models share one class, parameterised by `model=`.
_ENCODERS: dict[str, str] = {
    "cnn": "hyperst.nn.encoders.cnn:CNNEncoder",
    "features": "hyperst.nn.encoders.precomputed:PrecomputedFeatures",
    "squidpy": "hyperst.nn.encoders.squidpy_features:SquidpyEncoder",
}
_FOUNDATION = "hyperst.nn.encoders.foundation:FoundationEncoder"
FOUNDATION_MODELS: tuple[str, ...] = ("uni", "uni2-h", "hoptimus0")

__all__ = ["FOUNDATION_MODELS", "ImageEncoder", "available_encoders", "build_encoder"]


def available_encoders() -> list[str]:
    """Names accepted by :func:`~hyperst.nn.encoders.build_encoder`."""
    return [*_ENCODERS, *FOUNDATION_MODELS]


def build_encoder(encoder: str | ImageEncoder, **kwargs: Any) -> ImageEncoder:
    """Return the image encoder named ``encoder`` built with ``kwargs``, or ``encoder`` itself if it is one."""
    if isinstance(encoder, ImageEncoder):
        if kwargs:
            raise TypeError(f"Encoder options {sorted(kwargs)} apply to named encoders only, not to an instance.")
        return encoder
    if isinstance(encoder, nn.Module):
        raise TypeError(
            f"A custom encoder must subclass `hyperst.nn.encoders.ImageEncoder` (got {type(encoder).__name__}): "
            "set `out_dim`, `input_size` and `frozen`, and map (batch, 3, input_size, input_size) crops in [0, 1] "
            "to (batch, out_dim) features."
        )
    if not isinstance(encoder, str) or encoder not in available_encoders():
        raise ValueError(f"Unknown encoder {encoder!r}; choose one of {available_encoders()} or pass an ImageEncoder.")
    if encoder in FOUNDATION_MODELS:
        if kwargs.get("model", encoder) != encoder:
            raise ValueError(f"Encoder {encoder!r} was given with a different `model={kwargs['model']!r}`.")
        return _load_class(_FOUNDATION)(**{**kwargs, "model": encoder})
    return _load_class(_ENCODERS[encoder])(**kwargs)


def _load_class(path: str) -> type[ImageEncoder]:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)
