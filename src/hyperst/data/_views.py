"""Augmented views of every crop, for frozen encoders: what the slide would look like from another lab.

A frozen encoder's features are computed once per crop, so the model cannot augment crops while it trains. A
view instead changes every crop the same way each time it is read (draws seeded by the view and the spot), so
its features can be computed once and stored like the others (:func:`~hyperst.data.stored_features` keys them
by the view), and training draws a view per spot and epoch. Each view, per spot:

- scans it at a coarser pixel size (log-uniform up to ``max_pixel_um``): the crop is downsampled to that pixel
  size and resampled back, as a 20x scan read at 40x would be;
- shifts its stains (Tellez et al.'s HED augmentation: each stain density ``s`` becomes ``a s + b``);
- with probability ``edge``, paints the far side of a straight line through the neighbourhood, as at the edge of
  the tissue (the same line in the spot and the niche crop): white, as the crops of a masked export (its black
  painted white) show it, for training; in the crop's own glass colour, as the slide's own tissue edges look, for
  the out-of-distribution reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hyperst._constants import EdgeColour, check_choice
from hyperst.data._image import BACKGROUND

# An edge view's line lies this far from the spot centre, in spot crop sides: the spot crop keeps 40-100 % of it
_EDGE_OFFSET = (-0.1, 0.5)
# Glass-like pixels (0-255): bright and grey; her2st's glass sits at 215-233 with a channel spread of 16-19
_GLASS_MIN_MEAN = 200
_GLASS_MAX_SPREAD = 24


@dataclass(frozen=True)
class CropView:
    """One augmented view of every crop (see the module docstring); ``index`` tells the views of one set apart.

    Parameters
    ----------
    index
        Number of the view: views differ in their draws.
    max_pixel_um
        Coarsest simulated pixel size in µm (no coarsening where the crop's own pixels are coarser).
    stain
        Amplitude of the HED stain shift (``a ~ U(1 - stain, 1 + stain)``, ``b ~ U(-stain / 4, stain / 4)``).
    edge
        Probability that a spot's crops are cut by a tissue edge.
    seed
        Seed of the draws.
    edge_colour
        What the edge paints beyond its line: ``"white"``, the canonical crop background (masked exports and
        padding are painted to it); ``"glass"``, the crop's own glass colour (white where the crop shows none).
        Measured on her2st B4 exported as another lab (docs/benchmarks.md): members trained on white edges held
        0.591 raw on it, on glass-coloured ones 0.576 (clean 0.600 and 0.597).
    """

    index: int
    max_pixel_um: float = 3.0
    stain: float = 0.15
    edge: float = 0.5
    seed: int = 0
    edge_colour: EdgeColour = "white"  # last: positional arguments keep their meaning

    def __post_init__(self) -> None:
        check_choice("edge_colour", self.edge_colour, EdgeColour)

    def record(self) -> dict[str, Any]:
        """JSON-safe description (the feature store's key of the view's features)."""
        return asdict(self)

    def apply(self, crops: np.ndarray, rows: np.ndarray, *, crop_um: float, spot_crop_um: float) -> np.ndarray:
        """Return the view of ``(n, 3, size, size)`` uint8 crops of the spots ``rows``, each ``crop_um`` across."""
        from PIL import Image

        out = np.empty_like(crops)
        size = crops.shape[-1]
        for j, row in enumerate(np.asarray(rows)):
            draw = np.random.default_rng([self.seed, self.index, int(row)])
            finest, coarsest = np.log(crop_um / size), np.log(max(self.max_pixel_um, crop_um / size))
            pixel_um = float(np.exp(finest + draw.random() * (coarsest - finest)))
            scale, shift = draw.uniform(1 - self.stain, 1 + self.stain, 3), draw.uniform(-1, 1, 3) * self.stain / 4
            cut, angle = draw.random() < self.edge, draw.uniform(0, 2 * np.pi)
            offset = draw.uniform(*_EDGE_OFFSET) * spot_crop_um
            crop = hed_shift(crops[j].transpose(1, 2, 0), scale, shift)
            coarse = round(crop_um / pixel_um)
            if coarse < size:
                image = Image.fromarray(crop).resize((coarse, coarse), Image.Resampling.BILINEAR)
                crop = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
            crop = crop.transpose(2, 0, 1)
            if cut:
                colour = _glass_colour(crop) if self.edge_colour == "glass" else np.uint8(BACKGROUND)
                crop = np.where(_beyond(size, crop_um, angle, offset)[None], colour, crop)
            out[j] = crop
        return out


def crop_views(n_views: int, *, seed: int = 0, **options: Any) -> tuple[CropView, ...]:
    """``n_views`` views with different draws (options of :class:`CropView`)."""
    return tuple(CropView(index=i + 1, seed=seed, **options) for i in range(n_views))


def hed_shift(image: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB with each stain density ``s`` (HED, Ruifrok-Johnston) mapped to ``scale * s + shift``.

    Not skimage's ``rgb2hed`` / ``hed2rgb``: they clip negative densities, so their round trip changes pixels
    outside the H&E gamut even without a shift.
    """
    from skimage.color import hed_from_rgb, rgb_from_hed

    density = -np.log(np.maximum(image.astype(np.float32), 1.0) / 255.0)
    rgb = 255.0 * np.exp(-(((density @ hed_from_rgb) * scale + shift) @ rgb_from_hed))
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _glass_colour(crop: np.ndarray) -> np.ndarray:
    """``(3, 1, 1)`` uint8 colour of the glass in a ``(3, h, w)`` crop (fat, lumina), white when it shows none.

    An edge painted in the slide's own glass colour looks like the slide's tissue edges, not like another export.
    """
    pixels = crop.reshape(3, -1)
    glass = (pixels.mean(axis=0) >= _GLASS_MIN_MEAN) & (np.ptp(pixels, axis=0) <= _GLASS_MAX_SPREAD)
    if glass.mean() < 0.01:
        return np.full((3, 1, 1), BACKGROUND, dtype=np.uint8)
    return np.median(pixels[:, glass], axis=1).round().astype(np.uint8)[:, None, None]


def _beyond(size: int, crop_um: float, angle: float, offset_um: float) -> np.ndarray:
    """``(size, size)`` mask of the pixels beyond the line ``offset_um`` from the centre, normal ``angle``."""
    centres = (np.arange(size) + 0.5) / size * crop_um - crop_um / 2
    along = np.cos(angle) * centres[None, :] + np.sin(angle) * centres[:, None]
    return along > offset_um
