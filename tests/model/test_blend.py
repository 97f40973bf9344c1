"""The blend's kernels: the folded ridge map, retrieval in the aligned space, weights chosen on validation spots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyperst.baselines import ridge_model
from hyperst.geometry import lorentz
from hyperst.model import Blender
from hyperst.model._blend import LinearMap, Retrieval, check_blend, choose_weights, simplex_grid


def test_the_folded_ridge_map_predicts_what_the_probe_pipeline_does():
    rng = np.random.default_rng(0)
    x, y = rng.normal(2.0, 3.0, size=(80, 12)), rng.normal(size=(80, 4))
    x[:, 3] *= 50  # features on very different scales: the scaler matters
    expected = ridge_model(x.shape).fit(x, y).predict(x[:7])
    np.testing.assert_allclose(LinearMap.fit(x, y).predict(x[:7]), expected, rtol=1e-4, atol=1e-4)


def test_the_ridge_member_reads_features_beyond_its_fitting_range_at_the_range_edge():
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, size=(60, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]])
    ridge = LinearMap.fit(x, y)
    np.testing.assert_array_equal(ridge.low, x.min(axis=0).astype(np.float32))
    far = np.array([[50.0, -80.0, 0.2]])  # a shifted scanner: two features far outside what it was fitted on
    edge = np.array([[x[:, 0].max(), x[:, 1].min(), 0.2]])
    np.testing.assert_allclose(ridge.predict(far), ridge.predict(edge), rtol=1e-6)
    assert abs(ridge.predict(far)[0, 0]) < 5  # unclipped: about 50 - 160 = -110


@pytest.mark.parametrize("curvature", [0.3, 1.0, 4.0])
def test_retrieval_averages_the_geodesically_nearest_reference_spots(curvature):
    rng = np.random.default_rng(1)
    reference, queries = rng.normal(size=(60, 5)), rng.normal(size=(9, 5))
    expression = rng.normal(size=(60, 3))
    retrieval = Retrieval(reference.astype(np.float32), expression.astype(np.float32), k=7)
    distances = lorentz.pairwise_dist(torch.tensor(queries), torch.tensor(reference), curvature).numpy()
    nearest = np.argsort(distances, axis=1)[:, :7]
    expected = expression[nearest].mean(axis=1)
    np.testing.assert_allclose(retrieval.predict(queries, curvature), expected, rtol=1e-5, atol=1e-5)


def test_retrieval_of_unit_vectors_uses_the_angle_and_keeps_at_most_its_reference_size():
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(30, 4))
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    expression = np.arange(30, dtype=np.float32)[:, None]
    retrieval = Retrieval.fit(reference, expression)
    assert retrieval.k == 30  # fewer reference spots than neighbours: all of them
    one = Retrieval(reference.astype(np.float32), expression, k=1)
    np.testing.assert_array_equal(one.predict(reference[[4, 17]] * 3.0, None)[:, 0], [4, 17])


def test_simplex_grid_sums_to_one_and_starts_with_the_networks_alone():
    grid = simplex_grid(3)
    assert grid.shape == (231, 3) and np.allclose(grid.sum(axis=1), 1) and (grid >= 0).all()
    np.testing.assert_array_equal(grid[0], [1, 0, 0])
    assert len(simplex_grid(2)) == 21


def test_weights_go_to_the_member_that_follows_the_validation_values():
    rng = np.random.default_rng(3)
    observed = rng.normal(size=(50, 4))
    noise = rng.normal(size=(50, 4))
    members = np.stack([noise, observed + 5.0, rng.normal(size=(50, 4))])  # an offset is no demerit (centred)
    weights = choose_weights(observed, members, per_gene=False)
    np.testing.assert_allclose(weights, np.repeat([[0.0], [1.0], [0.0]], 4, axis=1))
    # Per gene: gene 0 follows member 0, the others member 1.
    members[0, :, 0], members[1, :, 0] = observed[:, 0], noise[:, 0]
    weights = choose_weights(observed, members, per_gene=True)
    np.testing.assert_allclose(weights[:, 0], [1, 0, 0])
    np.testing.assert_allclose(weights[:, 1:], np.repeat([[0.0], [1.0], [0.0]], 3, axis=1))
    # Two members with independent equal errors: an even split beats either alone.
    members = np.stack([observed + rng.normal(size=(50, 4)), observed + rng.normal(size=(50, 4))])
    assert 0.3 <= choose_weights(observed, members, per_gene=False)[0, 0] <= 0.7


def test_a_gene_constant_on_the_validation_spots_takes_the_panel_weights():
    rng = np.random.default_rng(4)
    observed = rng.normal(size=(40, 3))
    observed[:, 2] = 1.0
    members = np.stack([rng.normal(size=(40, 3)), observed])
    weights = choose_weights(observed, members, per_gene=True)
    np.testing.assert_allclose(weights[:, 2], weights[:, 0])
    assert np.isfinite(weights).all()


def test_blender_chooses_on_validation_rows_and_refits_on_all():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(120, 6))
    expression = features @ rng.normal(size=(6, 3)) + 0.05 * rng.normal(size=(120, 3))
    validation = np.arange(120) >= 90
    networks = rng.normal(size=(120, 3))  # networks that learned nothing
    blender, validation_blend = Blender.fit(
        ("ridge",),
        networks=networks,
        expression=expression,
        validation=validation,
        features=features,
        image_embeddings=None,
        gene_embeddings=None,
        curvature=None,
        per_gene=False,
    )
    assert blender.mean_weights()["ridge"] >= 0.9 and blender.n_spots == 30
    assert validation_blend.shape == (30, 3)
    refit = LinearMap.fit(features, expression)  # on training and validation spots
    np.testing.assert_allclose(blender.ridge.weight, refit.weight)
    config, arrays = blender.record()
    again = Blender.from_record(config, arrays)
    np.testing.assert_array_equal(
        again.combine(networks, features=features), blender.combine(networks, features=features)
    )


def test_bad_blend_options_are_named():
    assert check_blend(None) == () and check_blend(["ridge", "retrieval"]) == ("ridge", "retrieval")
    with pytest.raises(TypeError, match="sequence of member kinds"):
        check_blend("ridge")
    with pytest.raises(ValueError, match=r"`blend` must be one of \('ridge', 'retrieval'\), got 'knn'"):
        check_blend(("knn",))
    with pytest.raises(ValueError, match="names a member kind twice"):
        check_blend(("ridge", "ridge"))


def test_a_model_saved_before_blends_loads_without_one():
    from pathlib import Path

    from hyperst.model import HyperST

    model = HyperST.load(Path(__file__).parent / "_data" / "model_format1")
    assert model.blend == () and model.blend_weights == "global" and model.blender is None
