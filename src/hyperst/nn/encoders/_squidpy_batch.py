"""squidpy's summary, histogram and texture image features, computed for a whole batch of crops at once.

:meth:`squidpy.im.ImageContainer.features_summary`, ``features_histogram`` and ``features_texture`` take one image
each, wrapped in an ``ImageContainer`` (an xarray dataset); building that container costs ~30 ms whatever the crop
size, while the features themselves take well under a millisecond. These kernels keep squidpy's definitions (same
feature names, same values to rounding; a test holds them to the ``ImageContainer`` methods) and vectorise over
crops:

- summary: ``np.quantile`` (linear interpolation), ``np.mean`` and ``np.std`` (population) of each channel;
- histogram: ``np.histogram(channel, bins, range=v_range)`` counts of each channel;
- texture: :func:`skimage.feature.graycoprops` of :func:`skimage.feature.graycomatrix` with 256 levels, distance
  1, non-symmetric and unnormalised, of each channel.

All three start from integer counts, so every sum is exact: a channel's 256-value histogram gives its quantiles,
moments and binned histogram; a pair of grey levels ``(i, j)`` at an offset gives the co-occurrence properties as
sums over pairs (the 256 x 256 matrix itself is never built, as skimage's properties are sums over it weighted by
its entries). Hand-written because neither squidpy nor skimage batches over images.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

LEVELS = 256  # uint8 grey levels, as squidpy's texture uses (``levels=256``)


def summary_features(
    images: np.ndarray,
    quantiles: Sequence[float] = (0.9, 0.5, 0.1),
    feature_name: str = "summary",
    counts: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``features_summary`` of each image of a ``(batch, height, width, channels)`` uint8 array.

    ``counts`` passes :func:`value_counts` of ``images`` when computed already. Returns ``{name: (batch,) float64}``
    with squidpy's names ``{feature_name}_ch-{c}_quantile-{q}``, ``_mean`` and ``_std``.
    """
    counts = value_counts(images) if counts is None else counts  # (batch, channels, 256)
    n = images.shape[1] * images.shape[2]
    values = np.arange(LEVELS, dtype=np.float64)
    cumulative = np.cumsum(counts, axis=-1)
    mean = counts @ values / n
    std = np.sqrt(np.einsum("bcv,bcv->bc", counts, (values - mean[..., None]) ** 2) / n)
    features = {}
    for c in range(images.shape[-1]):
        for q in quantiles:
            features[f"{feature_name}_ch-{c}_quantile-{q}"] = _quantile(cumulative[:, c], n, q)
        features[f"{feature_name}_ch-{c}_mean"] = mean[:, c]
        features[f"{feature_name}_ch-{c}_std"] = std[:, c]
    return features


def histogram_features(
    images: np.ndarray,
    bins: int = 10,
    v_range: tuple[int, int] = (0, 255),
    feature_name: str = "histogram",
    counts: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``features_histogram`` (with an explicit ``v_range``) of each image of a ``(batch, h, w, channels)`` uint8 array.

    ``counts`` passes :func:`value_counts` of ``images`` when computed already. Returns ``{name: (batch,) float64}``
    with squidpy's names ``{feature_name}_ch-{c}_bin-{i}``.
    """
    counts = value_counts(images) if counts is None else counts
    binned = counts @ _bin_matrix(int(bins), (float(v_range[0]), float(v_range[1])))
    return {f"{feature_name}_ch-{c}_bin-{i}": binned[:, c, i] for c in range(images.shape[-1]) for i in range(bins)}


def texture_features(
    images: np.ndarray,
    props: Sequence[str] = ("contrast", "homogeneity", "correlation", "ASM"),
    angles: Sequence[float] = (0.0, np.pi / 2),
    feature_name: str = "texture",
) -> dict[str, np.ndarray]:
    """``features_texture`` (distance 1) of each image of a ``(batch, height, width, channels)`` uint8 array.

    Supports the properties ``"contrast"``, ``"dissimilarity"``, ``"homogeneity"``, ``"correlation"`` and
    ``"ASM"`` at angles 0 and pi/2 (the pixel to the right and the one below, skimage's offsets at distance 1).
    Returns ``{name: (batch,) float64}`` with squidpy's names ``{feature_name}_ch-{c}_{prop}_dist-1_angle-{a:.2f}``.
    """
    unknown = set(props) - set(_PROPS)
    if unknown:
        raise ValueError(f"Texture properties {sorted(unknown)} are not supported; choose from {_PROPS}.")
    features = {}
    for c in range(images.shape[-1]):
        grey = images[..., c]
        by_angle = [_cooccurrence_props(*_pairs(grey, float(angle)), props) for angle in angles]
        for prop in props:  # squidpy's order: channel, property, angle
            for angle, values in zip(angles, by_angle, strict=True):
                features[f"{feature_name}_ch-{c}_{prop}_dist-1_angle-{angle:.2f}"] = values[prop]
    return features


def value_counts(images: np.ndarray) -> np.ndarray:
    """``(batch, channels, 256)`` float64 counts of each uint8 value per image and channel."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise TypeError(f"Expected a (batch, height, width, channels) uint8 array, got {images.dtype} {images.shape}.")
    batch, _, _, channels = images.shape
    offsets = (np.arange(batch * channels, dtype=np.intp) * LEVELS).reshape(batch, 1, 1, channels)
    flat = (images + offsets).ravel()  # uint8 + intp -> intp: one bin range per (image, channel)
    return np.bincount(flat, minlength=batch * channels * LEVELS).reshape(batch, channels, LEVELS).astype(np.float64)


def _quantile(cumulative: np.ndarray, n: int, q: float) -> np.ndarray:
    """``np.quantile(values, q)`` (linear method) of each row, from ``(batch, 256)`` cumulative value counts."""
    virtual = q * (n - 1)  # numpy's index for the linear method (alpha = beta = 1)
    below = int(np.floor(virtual))
    above = min(below + 1, n - 1)
    gamma = virtual - below
    # the k-th smallest value (0-based) is the first value whose cumulative count exceeds k
    low = (cumulative <= below).sum(axis=-1).astype(np.float64)
    high = (cumulative <= above).sum(axis=-1).astype(np.float64)
    diff = high - low
    # numpy's _lerp: a + (b - a) t below t = 0.5, b - (b - a)(1 - t) from 0.5 on
    return high - diff * (1 - gamma) if gamma >= 0.5 else low + diff * gamma


@lru_cache(maxsize=16)
def _bin_matrix(bins: int, v_range: tuple[float, float]) -> np.ndarray:
    """``(256, bins)`` 0/1 matrix: value v falls in bin i of ``np.histogram(..., bins, range=v_range)``.

    Built with ``np.histogram`` itself, value by value, so edge cases (the closed last bin, values outside the
    range) follow numpy exactly.
    """
    matrix = np.zeros((LEVELS, bins), dtype=np.float64)
    for value in range(LEVELS):
        matrix[value] = np.histogram(np.array([value], dtype=np.uint8), bins=bins, range=v_range)[0]
    return matrix


def _pairs(grey: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``(batch, n_pairs)`` grey levels of each pixel and its neighbour at distance 1 and ``angle``."""
    # skimage's offsets: row + round(sin(angle)), column + round(cos(angle))
    rows, cols = round(np.sin(angle)), round(np.cos(angle))
    if (rows, cols) == (0, 1):
        first, second = grey[:, :, :-1], grey[:, :, 1:]
    elif (rows, cols) == (1, 0):
        first, second = grey[:, :-1, :], grey[:, 1:, :]
    else:
        raise ValueError(f"Texture angles must be 0 or pi/2, got {angle}.")
    batch = len(grey)
    return first.reshape(batch, -1), second.reshape(batch, -1)


def _cooccurrence_props(first: np.ndarray, second: np.ndarray, props: Sequence[str]) -> dict[str, np.ndarray]:
    """Compute ``skimage.feature.graycoprops`` of each row's co-occurrence matrix as sums over its pairs.

    With ``P`` the matrix normalised to sum 1 and ``n`` pairs, ``sum_ij P_ij f(i, j)`` is the mean of ``f`` over
    the pairs, so contrast, dissimilarity, homogeneity and the moments of correlation are means over pairs
    (integer sums here, exact); ASM is ``sum_ij P_ij ** 2``, the squared counts of each distinct pair over ``n ** 2``.
    """
    n = first.shape[1]
    i, j = first.astype(np.int64), second.astype(np.int64)
    out: dict[str, np.ndarray] = {}
    if {"contrast", "dissimilarity", "homogeneity"} & set(props):
        offsets = (np.arange(len(i), dtype=np.int64) * LEVELS)[:, None]
        steps = np.bincount((np.abs(i - j) + offsets).ravel(), minlength=len(i) * LEVELS)
        steps = steps.reshape(len(i), LEVELS).astype(np.float64)  # how many pairs differ by 0, 1, ..., 255
        distance = np.arange(LEVELS, dtype=np.float64)
        out["contrast"] = steps @ distance**2 / n
        out["dissimilarity"] = steps @ distance / n
        out["homogeneity"] = steps @ (1.0 / (1.0 + distance**2)) / n
    if "correlation" in props:
        sum_i, sum_j = i.sum(axis=1), j.sum(axis=1)
        spread_i = (n * (i * i).sum(axis=1) - sum_i * sum_i).astype(np.float64)  # n ** 2 var_i, exact
        spread_j = (n * (j * j).sum(axis=1) - sum_j * sum_j).astype(np.float64)
        covariance = (n * (i * j).sum(axis=1) - sum_i * sum_j).astype(np.float64)  # n ** 2 cov, exact
        # skimage sets correlation to 1 where either standard deviation is below 1e-15, i.e. exactly 0 here (a
        # non-zero variance of integers is at least 1 / n ** 2)
        flat = (spread_i == 0) | (spread_j == 0)
        denominator = np.sqrt(spread_i) * np.sqrt(spread_j)
        out["correlation"] = np.where(flat, 1.0, covariance / np.where(flat, 1.0, denominator))
    if "ASM" in props:
        out["ASM"] = _sum_of_squared_counts((first.astype(np.uint16) << 8) | second) / float(n) ** 2
    return {prop: out[prop] for prop in props}


def _sum_of_squared_counts(codes: np.ndarray) -> np.ndarray:
    """Per row of ``(batch, n)`` uint16 codes: the sum over distinct codes of (how often it occurs) squared."""
    batch, n = codes.shape
    codes = np.sort(codes, axis=1, kind="stable")  # numpy sorts 16-bit integers by radix: linear time
    start = np.empty((batch, n), dtype=bool)  # where a run of equal codes starts
    start[:, 0] = True
    np.not_equal(codes[:, 1:], codes[:, :-1], out=start[:, 1:])
    starts = np.flatnonzero(start)
    lengths = np.diff(starts, append=batch * n).astype(np.float64)
    return np.bincount(starts // n, weights=lengths * lengths, minlength=batch)


_PROPS = ("contrast", "dissimilarity", "homogeneity", "correlation", "ASM")
