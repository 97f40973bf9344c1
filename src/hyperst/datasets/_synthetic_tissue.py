"""Numpy building blocks of the toy slide: a Visium-like spot grid, latent tissue fields, H&E rendering, counts.

Nothing here knows about SpatialData; :func:`hyperst.datasets.toy` assembles the pieces. The generative model:

1. three latent tissue fields over the slide (nuclear density, eosin intensity, nuclear size), each a sum of a
   fine (~30 µm) and a coarse (~150 µm) Gaussian random field;
2. an H&E-like RGB image rendered from the fields with Beer-Lambert optical densities of haematoxylin and eosin;
3. per spot, the fields averaged over the spot disk (spot signal) and over the ~255 µm niche window (niche
   signal); each gene's log-mean is a linear function of one or both, so both crops carry information;
4. negative-binomial counts with a per-section sequencing depth and a per-spot size factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Ruifrok & Johnston stain vectors (optical density per unit stain, RGB).
_HAEMATOXYLIN_OD = np.array([0.650, 0.704, 0.286])
_EOSIN_OD = np.array([0.072, 0.990, 0.105])
_BACKGROUND_RGB = np.array([244.0, 242.0, 246.0])
LATENT_NAMES = ("nuclear_density", "eosin", "nuclear_size")
GENE_SIGNALS = ("spot", "niche", "both", "none")


@dataclass(frozen=True)
class SpotGrid:
    """Spot centres in pixels (x = column, y = row) with their Visium-style array coordinates."""

    xy: np.ndarray  # (n, 2) float
    array_row: np.ndarray  # (n,) int
    array_col: np.ndarray  # (n,) int
    tissue_mask: np.ndarray  # (height, width) bool


def hexagonal_spots(n_spots: int, spacing_px: float, margin_px: float, rng: np.random.Generator) -> SpotGrid:
    """Choose ``n_spots`` positions of a hexagonal grid inside an irregular, blob-shaped tissue outline."""
    side = int(np.ceil(2.5 * np.sqrt(n_spots))) + 4
    rows, cols = np.meshgrid(np.arange(side), np.arange(2 * side), indexing="ij")
    keep = (rows % 2) == (cols % 2)  # Visium: array_col parity follows array_row parity
    rows, cols = rows[keep], cols[keep]
    x = cols * spacing_px / 2
    y = rows * spacing_px * np.sqrt(3) / 2

    centre = np.array([x.mean(), y.mean()])
    aspect = rng.uniform(0.75, 1.3)
    phases, amplitudes = rng.uniform(0, 2 * np.pi, 3), rng.uniform(0.03, 0.12, 3)

    def outline_distance(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        dx, dy = px - centre[0], (py - centre[1]) * aspect
        angle = np.arctan2(dy, dx)
        wobble = 1 + sum(
            a * np.cos((k + 2) * angle + p) for k, (a, p) in enumerate(zip(amplitudes, phases, strict=True))
        )
        return np.hypot(dx, dy) / wobble

    distance = outline_distance(x, y)
    chosen = np.argsort(distance, kind="stable")[:n_spots]
    threshold = distance[chosen].max() + 0.6 * spacing_px

    x, y = x[chosen], y[chosen]
    shift = np.array([x.min(), y.min()]) - margin_px
    xy = np.stack([x, y], axis=1) - shift
    centre = centre - shift
    width = int(np.ceil(xy[:, 0].max() + margin_px))
    height = int(np.ceil(xy[:, 1].max() + margin_px))
    py, px = np.mgrid[0:height, 0:width]
    tissue_mask = outline_distance(px.astype(float), py.astype(float)) <= threshold
    return SpotGrid(xy=xy, array_row=rows[chosen], array_col=cols[chosen], tissue_mask=tissue_mask)


def latent_fields(shape: tuple[int, int], fine_px: float, coarse_px: float, rng: np.random.Generator) -> np.ndarray:
    """Three standardised Gaussian random fields, each half fine-scale and half coarse-scale; (3, h, w)."""
    fields = []
    for _ in LATENT_NAMES:
        fine, coarse = (_smooth_noise(shape, sigma, rng) for sigma in (fine_px, coarse_px))
        fields.append(_standardise((fine + coarse) / np.sqrt(2)))
    return np.stack(fields).astype(np.float32)


def render_he(fields: np.ndarray, tissue_mask: np.ndarray, microns_per_pixel: float, rng: np.random.Generator):
    """Render an H&E-like uint8 RGB image ``(3, h, w)`` whose colour and texture follow the latent fields."""
    nuclear_density, eosin, nuclear_size = fields
    shape = tissue_mask.shape
    pixel_area_um2 = microns_per_pixel**2

    # Nuclei: Poisson points whose rate follows the density field, drawn as small or large blobs.
    rate = 1 / 90.0 * pixel_area_um2 * np.exp(0.9 * nuclear_density) * tissue_mask
    centres = rng.poisson(rate).astype(np.float32)
    large = rng.random(shape) < _sigmoid(1.5 * nuclear_size)
    haematoxylin = np.zeros(shape, dtype=np.float32)
    for is_large, radius_um in ((False, 2.5), (True, 4.5)):
        sigma = radius_um / microns_per_pixel / 1.5
        blobs = ndimage.gaussian_filter(centres * (large == is_large), sigma)
        haematoxylin += blobs * (2 * np.pi * sigma**2) * (0.9 if is_large else 1.3)
    haematoxylin = np.minimum(haematoxylin, 1.8) + 0.06 * tissue_mask

    # Eosin: a smooth intensity field with fibre-like fine texture.
    texture = _smooth_noise(shape, 3.0 / microns_per_pixel, rng)
    eosin_od = (0.25 + 0.45 * _sigmoid(1.5 * eosin)) * (1 + 0.25 * texture).clip(0.3) * tissue_mask

    optical_density = haematoxylin[..., None] * _HAEMATOXYLIN_OD + eosin_od[..., None] * _EOSIN_OD
    rgb = _BACKGROUND_RGB * np.exp(-optical_density) + rng.normal(0, 3.0, (*shape, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8).transpose(2, 0, 1)


def sample_window_means(fields: np.ndarray, xy: np.ndarray, window_px: float, *, disk: bool) -> np.ndarray:
    """Average each field over a disk (diameter ``window_px``) or square (side ``window_px``) at every spot."""
    half = window_px / 2
    offsets = np.arange(-int(half), int(half) + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    inside = np.hypot(dx, dy) <= half if disk else np.ones_like(dx, dtype=bool)
    dy, dx = dy[inside], dx[inside]
    rows = np.clip(np.round(xy[:, 1, None]).astype(int) + dy, 0, fields.shape[1] - 1)  # (n, window pixels)
    cols = np.clip(np.round(xy[:, 0, None]).astype(int) + dx, 0, fields.shape[2] - 1)
    return fields[:, rows, cols].mean(axis=2).T


@dataclass(frozen=True)
class GeneProgramme:
    """How each gene depends on the spot and niche signals (log-scale weights) and its baseline."""

    signal: np.ndarray  # (n_genes,) one of GENE_SIGNALS
    baseline: np.ndarray  # (n_genes,) log mean count at unit depth
    spot_weights: np.ndarray  # (n_genes, 3)
    niche_weights: np.ndarray  # (n_genes, 3)


def gene_programme(n_genes: int, rng: np.random.Generator) -> GeneProgramme:
    """Draw which genes follow the spot, the niche, both or nothing, and their weights."""
    signal = rng.choice(np.array(GENE_SIGNALS), size=n_genes, p=[0.35, 0.3, 0.2, 0.15])
    spot_weights = rng.normal(0, 0.7, (n_genes, 3)) * np.isin(signal, ("spot", "both"))[:, None]
    niche_weights = rng.normal(0, 0.9, (n_genes, 3)) * np.isin(signal, ("niche", "both"))[:, None]
    baseline = rng.normal(np.log(3.0), 1.0, n_genes)
    return GeneProgramme(signal, baseline, spot_weights, niche_weights)


def sample_counts(
    programme: GeneProgramme,
    spot_signal: np.ndarray,
    niche_signal: np.ndarray,
    depth: float,
    rng: np.random.Generator,
    dispersion: float = 8.0,
) -> np.ndarray:
    """Negative-binomial counts ``(n_spots, n_genes)``; denser nuclei also mean more captured RNA."""
    size_factor = depth * np.exp(0.25 * spot_signal[:, 0] + rng.normal(0, 0.2, len(spot_signal)))
    log_mean = programme.baseline + spot_signal @ programme.spot_weights.T + niche_signal @ programme.niche_weights.T
    mean = size_factor[:, None] * np.exp(log_mean)
    return rng.poisson(rng.gamma(dispersion, mean / dispersion))


def _smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Standardised white noise low-pass filtered by a Gaussian of ``sigma`` px (in Fourier space: fast at any sigma)."""
    spectrum = ndimage.fourier_gaussian(np.fft.rfft2(rng.standard_normal(shape)), sigma, n=shape[1])
    return _standardise(np.fft.irfft2(spectrum, s=shape))


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-12)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))
