"""Calibration of the ensemble's spread and the out-of-distribution reference, on synthetic numbers."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst._constants import INTERVAL_COVERAGE, INTERVAL_Z, OOD_THRESHOLD
from hyperst.metrics import observed_interval_metrics
from hyperst.model import Calibration, OODReference
from hyperst.model._uncertainty import reference_groups


def _counts(n: int, seed: int, depth: tuple[float, float], scale: str = "raw"):
    """Measured values of spots whose expected expression is off the members' mean by about their spread.

    Returns ``(observed, mean, members_sd, depth)``: ``depth`` is each spot's library size over the reference
    (the calibration's ``reference_depth`` is 1).
    """
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0, 6, size=(n, 5))
    members_sd = rng.uniform(0.05, 0.6, size=(n, 5))
    expected = mean + rng.normal(size=(n, 5)) * members_sd * np.array([1, 2, 3, 1, 0.5])  # genes differ
    ratio = rng.uniform(*depth, size=n)
    counts = rng.poisson(np.maximum(np.exp2(expected) - 1, 0) * ratio[:, None])
    observed = np.log2(1 + (counts if scale == "raw" else counts / ratio[:, None]))
    return observed, mean, members_sd, ratio


@pytest.mark.parametrize("scale", ["raw", "normalised"])
def test_calibrated_interval_covers_90_percent_of_new_spots_at_another_depth(scale):
    observed, mean, members_sd, depth = _counts(600, seed=0, depth=(0.5, 2.0), scale=scale)
    calibration = Calibration.fit(observed, mean, members_sd, depth, reference_depth=1.0, scale=scale)
    assert calibration.covers == "expected"
    # a patient sequenced 15 times shallower: its measured values sit far below the expected expression
    observed, mean, members_sd, depth = _counts(3000, seed=1, depth=(1 / 20, 1 / 10), scale=scale)
    sd = calibration.sd(mean, members_sd)
    per_gene, summary = observed_interval_metrics(
        observed, mean, sd, depth, list("abcde"), scale=scale, coverage=INTERVAL_COVERAGE
    )
    # counts are discrete: at this depth many values are 0, which the interval includes whole, so it over-covers a bit
    assert np.all((per_gene["coverage"] > 0.85) & (per_gene["coverage"] < 0.98)), per_gene
    assert summary["sd_error_spearman"] > 0.15  # the interval's sd ranks the spots by how wrong they are
    # checked as an interval of the measured value itself, the same sd misses most shallow spots
    assert (np.abs(observed - mean) <= INTERVAL_Z * sd).mean() < 0.7


def test_uncalibrated_spread_does_not_cover():
    """Guards the test above: the members' sd alone is too narrow for some genes; calibration widens it."""
    observed, mean, members_sd, depth = _counts(3000, seed=1, depth=(0.5, 2.0))
    coverage = observed_interval_metrics(
        observed, mean, members_sd, depth, list("abcde"), scale="raw", coverage=INTERVAL_COVERAGE
    )[1]["coverage_min_gene"]
    assert coverage < 0.8  # gene "c" strays 3 times the members' spread


def test_calibration_round_trips_through_its_record():
    observed, mean, members_sd, depth = _counts(200, seed=0, depth=(0.5, 2.0))
    calibration = Calibration.fit(observed, mean, members_sd, depth, reference_depth=1.0, scale="raw")
    again = Calibration.from_record(calibration.record())
    np.testing.assert_array_equal(again.sd(mean, members_sd), calibration.sd(mean, members_sd))


def test_a_calibration_saved_before_depths_keeps_its_meaning():
    record = {"levels": [0.0, 4.0], "noise": [0.5, 1.0], "factors": [2.0], "n_spots": 10}  # no "covers"
    calibration = Calibration.from_record(record)
    assert calibration.covers == "observed"
    sd = calibration.sd(np.array([[0.0], [4.0]]), np.zeros((2, 1)))
    np.testing.assert_allclose(sd[:, 0], [1.0, 2.0])


def test_calibration_needs_two_spots():
    with pytest.raises(ValueError, match="at least 2"):
        Calibration.fit(
            np.zeros((1, 3)), np.zeros((1, 3)), np.ones((1, 3)), np.ones(1), reference_depth=1.0, scale="raw"
        )


def _training_features(seed: int = 0):
    rng = np.random.default_rng(seed)
    # Three sections, each slightly offset; one direction (column 3) barely varies, as a colour channel might.
    scales = np.array([1.0, 1.0, 0.5, 0.05])
    sections = np.repeat(np.arange(3), 300)
    features = rng.normal(size=(900, 4)) * scales + 0.2 * sections[:, None] * np.array([1, 1, 0, 0])
    return features, sections, scales


def test_ood_flags_a_shift_and_not_a_new_section_of_the_same_kind():
    features, sections, scales = _training_features()
    reference = OODReference.fit(features, sections)
    rng = np.random.default_rng(1)
    new_section = rng.normal(size=(500, 4)) * scales + np.array([0.3, 0.3, 0, 0])
    shifted = new_section + np.array([0, 0, 0, 0.5])  # 10 sd along the quiet direction, small in absolute terms
    inside, outside = reference.score(new_section), reference.score(shifted)
    assert np.all((inside >= 0) & (inside <= 1))
    assert np.mean(inside > OOD_THRESHOLD) < 0.05
    assert np.mean(outside > OOD_THRESHOLD) > 0.9


def test_ood_scores_batch_by_batch_as_all_at_once():
    # prediction scores each batch as it goes (no (n_spots, d) feature array is kept): the score is per spot
    features, sections, _ = _training_features()
    reference = OODReference.fit(features, sections)
    spots = np.random.default_rng(2).normal(size=(300, 4))
    batches = np.concatenate([reference.score(batch) for batch in np.array_split(spots, 7)])
    np.testing.assert_array_equal(batches, OODReference.fit(features, sections).score(spots))


def test_ood_reference_round_trips_and_is_capped(monkeypatch):
    import hyperst.model._uncertainty as uncertainty

    monkeypatch.setattr(uncertainty, "OOD_MAX_REFERENCE", 400)
    features, sections, _ = _training_features()
    reference = OODReference.fit(features, sections, seed=0)
    assert reference.n_reference == 400
    again = OODReference.from_arrays(reference.arrays(), neighbours=reference.neighbours)
    np.testing.assert_array_equal(again.score(features[:20]), reference.score(features[:20]))


def test_one_section_is_split_into_spatial_blocks():
    centres = np.c_[np.linspace(0, 1000, 100), np.zeros(100)]
    groups = reference_groups(np.zeros(100, dtype=int), centres)
    assert sorted(np.unique(groups)) == [0, 1, 2, 3] and np.all(np.diff(groups) >= 0)
    np.testing.assert_array_equal(
        reference_groups(np.r_[np.zeros(50), np.ones(50)], centres), np.r_[[0] * 50, [1] * 50]
    )
