"""The target's scales in one home (``hyperst.data._scale``): counts of a spot and its niche on the raw or normalised
scale, and the reference library size the normalised scale refers to."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hyperst.data import expression, reference_library_size, scale_counts, scaled_spot_counts


def test_reference_library_size_is_the_median_of_measured_spots():
    assert reference_library_size(np.array([0.0, 10.0, 30.0, 20.0])) == 20.0  # spots with nothing measured left out
    with pytest.raises(ValueError, match="rows sum to zero"):
        reference_library_size(np.zeros(3))


def test_spot_and_niche_counts_on_each_scale(toy_spots):
    raw = scaled_spot_counts(toy_spots, "raw", None)
    assert raw[0] is toy_spots.counts and raw[1] is toy_spots.niche_counts
    reference = reference_library_size(toy_spots.library_size)
    spot, niche = scaled_spot_counts(toy_spots, "normalised", reference)
    np.testing.assert_array_equal(spot, scale_counts(toy_spots.counts, "normalised", toy_spots.library_size, reference))
    # the niche is the mean of its spots' normalised counts (each spot and its neighbours)
    graph = toy_spots.neighbours
    first = np.append(graph[0].indices, 0)
    np.testing.assert_allclose(niche[0], spot[first].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        np.log2(1 + spot), expression(toy_spots.counts, "normalised", toy_spots.library_size, reference), rtol=1e-6
    )
    assert scaled_spot_counts(dataclasses.replace(toy_spots, counts=None), "raw", None) is None
