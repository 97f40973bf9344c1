"""The expression scales HyperST predicts and is scored on, written once.

``"raw"`` is the paper's ``log2(1 + count)``. ``"normalised"`` divides each spot's counts by its library size (its
total over all genes of its table row, not only the panel, as scanpy's ``normalize_total``) and multiplies by a
reference library size (the median over the training spots, :func:`reference_library_size`) before the logarithm:
sequencing depth, which differs many-fold between patients and runs, no longer dominates the target. The model's
targets are a spot's and its niche's counts on that scale (:func:`scaled_spot_counts`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hyperst._constants import TargetScale, check_choice
from hyperst.data._niches import niche_means

if TYPE_CHECKING:
    from hyperst.data._spots import SpotData


def log2p(counts: Any) -> Any:
    """``log2(1 + counts)``: float32 for numpy input; torch tensors stay tensors (on their device)."""
    if hasattr(counts, "log2"):  # a torch tensor: keep it on its device and in autograd
        return (counts + 1).log2()
    return np.log2(1 + np.asarray(counts, dtype=np.float32))


def scale_counts(
    counts: np.ndarray, scale: TargetScale, library_size: np.ndarray | None = None, reference: float | None = None
) -> np.ndarray:
    """Return counts ``(n, genes)`` on ``scale`` before the logarithm: as they are (raw) or ``count / L x reference``.

    Spots with library size 0 (nothing measured) stay 0.
    """
    check_choice("target", scale, TargetScale)
    counts = np.asarray(counts, dtype=np.float32)
    if scale == "raw":
        return counts
    if library_size is None or reference is None:
        raise ValueError("The 'normalised' scale needs each spot's library size and a reference library size.")
    size = np.asarray(library_size, dtype=np.float64)[:, None]
    factor = np.divide(reference, size, out=np.zeros_like(size), where=size > 0)
    return (counts * factor).astype(np.float32)


def expression(
    counts: np.ndarray, scale: TargetScale, library_size: np.ndarray | None = None, reference: float | None = None
) -> np.ndarray:
    """``log2(1 + counts)`` on ``scale`` (see :func:`scale_counts`), float32."""
    return log2p(scale_counts(counts, scale, library_size, reference))


def counts_from_expression(
    values: np.ndarray, scale: TargetScale, library_size: np.ndarray | None = None, reference: float | None = None
) -> np.ndarray:
    """Invert :func:`expression`: counts ``(n, genes)`` float64 from values on ``scale``."""
    counts = np.expm1(np.asarray(values, dtype=np.float64) * np.log(2)).clip(min=0)
    if scale == "raw":
        return counts
    return counts * np.asarray(library_size, dtype=np.float64)[:, None] / reference


def scaled_spot_counts(
    spots: SpotData, scale: TargetScale, reference: float | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Spot and niche counts on ``scale`` before the logarithm; ``None`` for spots without counts.

    On the normalised scale the niche is the mean of its spots' normalised counts, as the raw niche is the mean of
    their raw counts.
    """
    if spots.counts is None:
        return None
    if scale == "raw":
        return spots.counts, spots.niche_counts
    spot = scale_counts(spots.counts, scale, spots.library_size, reference)
    return spot, niche_means(spot, spots.neighbours)


def reference_library_size(library_size: np.ndarray) -> float:
    """Median of the training spots' (nonzero) library sizes ``(n,)``: the depth the normalised scale refers to."""
    sizes = np.asarray(library_size)
    if not (sizes > 0).any():
        raise ValueError(
            "target='normalised' divides by each spot's library size, but the training spots' rows sum to zero. "
            "Check that the table holds raw counts (`layer=`), or train with target='raw'."
        )
    return float(np.median(sizes[sizes > 0]))
