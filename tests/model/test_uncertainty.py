"""Calibration of the ensemble's spread and the out-of-distribution reference, on synthetic numbers."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst._constants import INTERVAL_Z, OOD_THRESHOLD
from hyperst.model import Calibration, OODReference
from hyperst.model._uncertainty import reference_groups


def _heteroscedastic(n: int, seed: int):
    """Predictions whose error sd grows with the members' spread and with the predicted level."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0, 4, size=(n, 5))
    members_sd = rng.uniform(0.02, 1.5, size=(n, 5))
    noise_sd = np.sqrt(members_sd**2 + (0.1 + 0.3 * mean) ** 2)
    observed = mean + rng.normal(size=(n, 5)) * noise_sd * np.array([1, 2, 3, 1, 0.5])  # genes differ in scale
    return observed, mean, members_sd


def test_calibrated_interval_covers_90_percent_of_new_spots():
    calibration = Calibration.fit(*_heteroscedastic(600, seed=0))
    observed, mean, members_sd = _heteroscedastic(4000, seed=1)
    sd = calibration.sd(mean, members_sd)
    coverage = (np.abs(observed - mean) <= INTERVAL_Z * sd).mean(axis=0)
    assert np.all((coverage > 0.86) & (coverage < 0.94)), coverage
    # The sd ranks the spots by how wrong they are (a constant sd would score 0).
    from scipy.stats import spearmanr

    assert spearmanr(sd[:, 0], np.abs(observed - mean)[:, 0])[0] > 0.2


def test_uncalibrated_spread_does_not_cover():
    """Guards the test above: the members' sd alone is far too narrow here, so calibration is what makes it cover."""
    observed, mean, members_sd = _heteroscedastic(4000, seed=1)
    assert (np.abs(observed - mean) <= INTERVAL_Z * members_sd).mean() < 0.7


def test_calibration_round_trips_through_its_record():
    calibration = Calibration.fit(*_heteroscedastic(200, seed=0))
    again = Calibration.from_record(calibration.record())
    _, mean, members_sd = _heteroscedastic(50, seed=2)
    np.testing.assert_array_equal(again.sd(mean, members_sd), calibration.sd(mean, members_sd))


def test_calibration_needs_two_spots():
    with pytest.raises(ValueError, match="at least 2"):
        Calibration.fit(np.zeros((1, 3)), np.zeros((1, 3)), np.ones((1, 3)))


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
