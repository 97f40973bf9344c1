"""How sure a prediction is: an ensemble's calibrated spread, and how far a spot's image lies from the training data.

Calibration (:class:`Calibration`) scales the members' spread per gene into an sd of the spot's expected
expression, fitted so that, with count sampling at each validation spot's depth added, ``INTERVAL_COVERAGE`` of
their measured values are covered. The distance score
is a k-nearest-neighbour distance in the whitened image features of the spot crop, ranked against the training
spots' own distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperst._constants import INTERVAL_COVERAGE

SD_FLOOR = 1e-3  # log2 units: the smallest sd written (a spot predicted at zero with zero noise)
NOISE_BINS = 20
FACTOR_RANGE = (1e-2, 1e2)  # calibration factors searched (times the members' sd)
FACTOR_STEPS = 14  # bisection steps of log(factor): a factor to within 0.1 %
OOD_NEIGHBOURS = 10
OOD_VIEWS = 4  # augmented views of every training spot in the reference (HyperST._fit_ood_reference)
OOD_MAX_REFERENCE = 5_000  # training spots kept as the reference (subsampled beyond): 1.4 MB at 71 features
SPREAD_FLOOR = 1e-6  # smallest variance of a whitened direction (standardised units)


def ensemble_mean_sd(predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the members' mean and sample sd over axis 0 of ``(n_members, n, n_genes)``; no sd for one member."""
    mean = predictions.mean(axis=0)
    return mean, (predictions.std(axis=0, ddof=1) if len(predictions) > 1 else None)


@dataclass
class Calibration:
    """Turns the members' spread into a calibrated sd of the spot's **expected** expression (``covers="expected"``).

    ``sd = factor[gene] x sqrt(members' sd^2 + floor[gene]^2)``, ``floor`` being the members' median sd of the
    gene (so a gene the members agree on still gets an interval). A measured value differs from the expected one
    by count sampling too, which depends on the spot's depth: on a patient sequenced 15 times shallower most
    values are 0 where the expected expression is low. So ``factor`` is fitted, per gene, on measurements: the
    validation spots' values must fall in the central ``INTERVAL_COVERAGE`` of what a spot at their depth could
    show (:func:`hyperst.metrics.observed_draws`: the expected level ``N(predicted, sd^2)``, a Poisson count at
    the spot's library size over ``reference_depth``, the training spots' median). The validation spots are a
    held-out section (``validation="auto"``), so between-section differences are in the fit.

    Models saved before hyperst 0.1 (``covers="observed"``) hold ``levels``, ``noise`` and ``factors`` of an sd
    that covers a measured value directly, at the training spots' depth:
    ``factor[gene] x sqrt(members' sd^2 + noise(predicted)^2)``.
    """

    levels: np.ndarray  # (bins,) "observed": predicted values at the noise bins' centres; "expected": empty
    noise: np.ndarray  # (bins,) "observed": root mean squared validation error in each bin; "expected": empty
    factors: np.ndarray  # (n_genes,)
    n_spots: int
    covers: str = "observed"
    floor: np.ndarray | None = None  # (n_genes,) "expected": the members' median sd per gene
    reference_depth: float | None = None  # "expected": the library size the expected expression refers to

    @classmethod
    def fit(
        cls,
        observed: np.ndarray,
        mean: np.ndarray,
        members_sd: np.ndarray,
        depth: np.ndarray,
        *,
        reference_depth: float,
        scale: str,
        seed: int = 0,
    ) -> Calibration:
        """Fit on the validation spots: measured values, the members' mean and sd (each ``(n, n_genes)``).

        ``depth`` is their library sizes ``(n,)``, ``scale`` the model's target scale.
        """
        from hyperst.metrics import in_interval, observed_draws

        n = len(observed)
        if n < 2:
            raise ValueError(f"Calibration needs at least 2 held-out spots, got {n}.")
        floor = np.maximum(np.median(members_sd, axis=0), SD_FLOOR)
        calibration = cls(
            np.empty(0), np.empty(0), np.ones(mean.shape[1]), n, "expected", floor, float(reference_depth)
        )
        ratio = np.asarray(depth, dtype=np.float64) / reference_depth
        low, high = np.full(mean.shape[1], np.log(FACTOR_RANGE[0])), np.full(mean.shape[1], np.log(FACTOR_RANGE[1]))
        for _ in range(FACTOR_STEPS):  # bisection of log(factor), all genes at once: coverage grows with the factor
            calibration.factors = np.exp((low + high) / 2)
            simulated = observed_draws(mean, calibration.sd(mean, members_sd), ratio, scale=scale, seed=seed)
            too_narrow = in_interval(observed, simulated, INTERVAL_COVERAGE).mean(axis=0) < INTERVAL_COVERAGE
            middle = np.log(calibration.factors)
            low, high = np.where(too_narrow, middle, low), np.where(too_narrow, high, middle)
        calibration.factors = np.exp(high)
        return calibration

    def sd(self, mean: np.ndarray, members_sd: np.ndarray) -> np.ndarray:
        """Return the calibrated sd of predictions ``mean`` whose members spread by ``members_sd`` (float32)."""
        if self.covers == "expected":
            return (np.sqrt(members_sd**2 + self.floor**2) * self.factors).astype(np.float32)
        noise = np.interp(mean, self.levels, self.noise)
        return (np.maximum(np.sqrt(members_sd**2 + noise**2), SD_FLOOR) * self.factors).astype(np.float32)

    def record(self) -> dict:
        """JSON-safe record (saved with the model, written to ``uns``)."""
        record = {
            "covers": self.covers,
            "levels": self.levels.tolist(),
            "noise": self.noise.tolist(),
            "factors": self.factors.tolist(),
            "n_spots": int(self.n_spots),
        }
        if self.covers == "expected":
            record |= {"floor": self.floor.tolist(), "reference_depth": self.reference_depth}
        return record

    @classmethod
    def from_record(cls, record: dict) -> Calibration:
        arrays = {k: np.asarray(record[k], dtype=np.float64) for k in ("levels", "noise", "factors")}
        covers = record.get("covers", "observed")  # records before hyperst 0.1: an sd of the measured value
        extra = {}
        if covers == "expected":
            extra = {
                "floor": np.asarray(record["floor"], dtype=np.float64),
                "reference_depth": record["reference_depth"],
            }
        return cls(**arrays, n_spots=int(record["n_spots"]), covers=covers, **extra)


@dataclass
class OODReference:
    """The training spots' image features, whitened, and the distances that rank a new spot against them.

    Features are standardised and whitened with their shrunk covariance (Ledoit-Wolf), so a distance counts every
    direction in units of its spread among training spots (a Mahalanobis distance, local): a colour shift along a
    direction that barely varies in training weighs as much as it is unusual. At most :data:`OOD_MAX_REFERENCE`
    spots are kept. A spot's distance is its mean distance to the :data:`OOD_NEIGHBOURS` nearest reference spots;
    ``reference_distances`` are each reference spot's distance to the reference spots of *other* groups
    (sections), so a new slide is compared with training spots the way a held-out section would be (spots of one
    section are closer to each other than to any other section's).
    """

    mean: np.ndarray  # (d,) feature mean of the training spots
    whitening: np.ndarray  # (d, d) maps centred features to whitened coordinates
    points: np.ndarray  # (n_reference, d) reference spots, whitened
    reference_distances: np.ndarray  # (n_reference,) sorted
    neighbours: int = OOD_NEIGHBOURS
    _index: Any = field(default=None, init=False, repr=False, compare=False)  # fitted on first `score`

    @classmethod
    def fit(cls, features: np.ndarray, groups: np.ndarray, *, seed: int = 0) -> OODReference:
        """Build the reference from ``(n, d)`` training features and each spot's group (section)."""
        from sklearn.covariance import LedoitWolf

        features = np.asarray(features, dtype=np.float64)
        if len(features) < 3:
            raise ValueError(f"An out-of-distribution reference needs at least 3 training spots, got {len(features)}.")
        keep = np.arange(len(features))
        if len(features) > OOD_MAX_REFERENCE:
            keep = np.sort(np.random.default_rng(seed).choice(keep, OOD_MAX_REFERENCE, replace=False))
        features, groups = features[keep], np.asarray(groups)[keep]
        mean = features.mean(axis=0)
        std = features.std(axis=0)
        scale = np.where(std > 1e-8, std, 1.0)
        covariance = LedoitWolf().fit((features - mean) / scale).covariance_
        values, vectors = np.linalg.eigh(covariance)
        whitening = (vectors / np.sqrt(np.maximum(values, SPREAD_FLOOR))) / scale[:, None]
        points = (features - mean) @ whitening
        neighbours = min(OOD_NEIGHBOURS, len(points) - 1)
        distances = _held_out_distances(points, groups, neighbours)
        return cls(mean, whitening, points.astype(np.float32), np.sort(distances), neighbours)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Per spot, the share of reference spots whose distance is below the spot's: in [0, 1], 1 = furthest."""
        from sklearn.neighbors import NearestNeighbors

        if self._index is None:  # once: prediction scores batch by batch
            self._index = NearestNeighbors(n_neighbors=self.neighbours).fit(self.points)
        projected = ((np.asarray(features, dtype=np.float64) - self.mean) @ self.whitening).astype(np.float32)
        distance = self._index.kneighbors(projected)[0].mean(axis=1)
        return np.searchsorted(self.reference_distances, distance, side="right") / len(self.reference_distances)

    @property
    def n_reference(self) -> int:
        return len(self.points)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything saved with the model, as named arrays."""
        return {name: getattr(self, name) for name in ("mean", "whitening", "points", "reference_distances")}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], neighbours: int) -> OODReference:
        return cls(**{k: np.asarray(v) for k, v in arrays.items()}, neighbours=neighbours)


def reference_groups(section_of: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Return the groups compared with each other: the sections, or with one section four spatial blocks.

    Neighbouring spots share most of their niche crop, so a spot's distance to its own neighbours says nothing
    about a new slide; with a single section, blocks along its longer side stand in for other sections.
    """
    if len(np.unique(section_of)) > 1:
        return np.asarray(section_of)
    axis = int(np.argmax(np.ptp(centres, axis=0)))
    rank = np.argsort(np.argsort(centres[:, axis], kind="stable"), kind="stable")
    return rank * 4 // len(rank)


def _held_out_distances(points: np.ndarray, groups: np.ndarray, neighbours: int) -> np.ndarray:
    """Each point's mean distance to its nearest points of the other groups."""
    from sklearn.neighbors import NearestNeighbors

    distances = np.empty(len(points))
    for group in np.unique(groups):
        inside = groups == group
        others = points[~inside]
        k = min(neighbours, len(others))
        distances[inside] = NearestNeighbors(n_neighbors=k).fit(others).kneighbors(points[inside])[0].mean(axis=1)
    return distances
