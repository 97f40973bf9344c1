"""Niches: first-ring neighbours per grid kind and the niche expression (mean raw counts)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hyperst.data import neighbour_graph, niche_means, prepare_spots


def _interior(xy: np.ndarray, margin: float) -> np.ndarray:
    low, high = xy.min(axis=0) + margin, xy.max(axis=0) - margin
    return np.all((xy > low) & (xy < high), axis=1)


@pytest.mark.parametrize(("kind", "ring"), [("hexagonal", 6), ("square", 8)])
def test_first_ring(builders, kind, ring):
    xy = builders["lattice"](kind, 7, 30.0, 40.0)
    xy = xy + np.random.default_rng(0).normal(0, 1.0, xy.shape)  # legacy ST positions jitter
    sdata = builders["build_sdata"](builders["gradient_image"](300, 300), xy, radius=10.0)
    spots = prepare_spots(sdata, check_tissue=False, spot_diameter_um=50.0, microns_per_pixel=1.0)
    assert spots.sections[0].grid == kind
    degree = np.asarray(spots.neighbours.sum(axis=1)).ravel()
    inner = _interior(xy, 35.0)
    assert inner.sum() > 5 and (degree[inner] == ring).all()
    assert (degree <= ring).all() and (degree >= 2).all()
    assert (spots.neighbours != spots.neighbours.T).nnz == 0 and spots.neighbours.diagonal().sum() == 0


def test_generic_layout_uses_k_nearest(builders):
    xy = np.random.default_rng(2).uniform(20, 280, (40, 2))
    sdata = builders["build_sdata"](builders["gradient_image"](300, 300), xy)
    spots = prepare_spots(sdata, check_tissue=False, microns_per_pixel=1.0, n_neighbours=4)
    degree = np.asarray(spots.neighbours.sum(axis=1)).ravel()
    assert spots.sections[0].grid == "generic" and degree.min() >= 4  # kNN, symmetrised


def test_niche_counts_are_means_over_the_niche(toy_sdata, toy_spots):
    graph, counts = toy_spots.neighbours, toy_spots.counts
    for i in (0, 7, 150):
        members = np.concatenate([[i], graph[i].indices])
        np.testing.assert_allclose(toy_spots.niche_counts[i], counts[members].mean(axis=0), rtol=1e-6)
    # toy interior spots have 6 neighbours; sections never mix
    degree = np.asarray(graph.sum(axis=1)).ravel()
    assert np.median(degree) == 6 and degree.max() == 6
    rows, cols = graph.nonzero()
    assert (toy_spots.section_of[rows] == toy_spots.section_of[cols]).all()
    # the user's table is untouched: no graph written into it
    assert not toy_sdata.tables["table"].obsp and "spatial_neighbors" not in toy_sdata.tables["table"].uns


def test_niche_means_and_graph_helpers(toy_spots):
    graph = neighbour_graph(toy_spots.sections)
    assert (graph != toy_spots.neighbours).nnz == 0
    isolated = niche_means(np.arange(6, dtype=np.float32).reshape(3, 2), graph[:3, :3] * 0)
    np.testing.assert_array_equal(isolated, np.arange(6).reshape(3, 2))


def test_building_the_graph_does_not_announce_itself(builders, library_log, caplog):
    xy = np.random.default_rng(2).uniform(20, 280, (40, 2))
    sdata = builders["build_sdata"](builders["gradient_image"](300, 300), xy)
    level_before = logging.getLogger("spatialdata._logging").level
    records = library_log("spatialdata._logging")
    prepare_spots(sdata, check_tissue=False, microns_per_pixel=1.0, n_neighbours=4)
    assert [r.getMessage() for r in records if r.levelno < logging.WARNING] == []
    assert logging.getLogger("spatialdata._logging").level == level_before
    with caplog.at_level(logging.DEBUG, logger="hyperst"):  # hyperst at DEBUG lets squidpy speak again
        prepare_spots(sdata, check_tissue=False, microns_per_pixel=1.0, n_neighbours=4)
    assert any("Creating graph" in r.getMessage() for r in records)
