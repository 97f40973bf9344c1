"""The baseline kernels: the ridge probe finds a linear signal, retrieval averages neighbours, the control has none."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst import baselines


@pytest.fixture
def linear():
    """Features of 300 spots in 3 sections and 5 genes that are a linear function of them plus a little noise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    y = x @ rng.normal(size=(12, 5)) + 0.1 * rng.normal(size=(300, 5))
    groups = np.repeat([0, 1, 2], 100)
    return x, y, groups


def _mean_r(observed: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([np.corrcoef(observed[:, g], predicted[:, g])[0, 1] for g in range(observed.shape[1])]))


def test_ridge_recovers_a_linear_target_and_beats_retrieval_and_the_control(linear):
    x, y, groups = linear
    train, test = np.arange(200), np.arange(200, 300)
    methods = ("ridge", "knn", "shuffled")
    predicted = baselines.predict_baselines(x, y, train, test, methods=methods, groups=groups, seed=0)
    assert list(predicted) == list(methods)
    r = {m: _mean_r(y[test], p) for m, p in predicted.items()}
    assert r["ridge"] > 0.99, r
    assert 0.2 < r["knn"] < r["ridge"] - 0.02, r  # averaging 50 neighbours blurs a linear signal
    assert abs(r["shuffled"]) < 0.2, r  # an image no longer belongs to its spot


def test_knn_retrieval_is_the_mean_of_the_nearest_training_spots():
    x_train = np.array([[0.0], [1.0], [10.0], [11.0]])
    y_train = np.array([[0.0], [2.0], [20.0], [22.0]])
    predicted = baselines.knn_retrieval(x_train, y_train, np.array([[0.4], [10.6]]), k=2)
    np.testing.assert_allclose(predicted, [[1.0], [21.0]])
    # more neighbours than training spots: all of them
    np.testing.assert_allclose(baselines.knn_retrieval(x_train, y_train, np.array([[5.0]]), k=50), [[11.0]])


def test_shuffle_within_permutes_inside_each_group_only():
    groups = np.array(["a"] * 50 + ["b"] * 30)
    order = baselines.shuffle_within(groups, seed=1)
    assert sorted(order) == list(range(80))
    assert (groups[order] == groups).all()
    assert (order != np.arange(80)).mean() > 0.9
    np.testing.assert_array_equal(order, baselines.shuffle_within(groups, seed=1))


def test_ridge_model_has_no_more_components_than_spots_or_features():
    assert baselines.ridge_model((10, 500)).named_steps["pca"].n_components == 9
    assert baselines.ridge_model((1000, 40)).named_steps["pca"].n_components == 40
    assert baselines.ridge_model((1000, 4000)).named_steps["pca"].n_components == baselines.MAX_COMPONENTS


def test_bad_inputs_are_named(linear):
    x, y, groups = linear
    with pytest.raises(ValueError, match="`baselines` must be one of"):
        baselines.check_baselines(("ridge", "lasso"))
    with pytest.raises(TypeError, match=r"sequence of names, e\.g\. \('ridge',\)"):
        baselines.check_baselines("ridge")
    with pytest.raises(ValueError, match="names a method twice"):
        baselines.check_baselines(("knn", "knn"))
    assert baselines.check_baselines(None) == ()
    with pytest.raises(ValueError, match="one row per spot"):
        baselines.predict_baselines(x, y[:10], np.arange(5), np.arange(5, 9), methods=("ridge",), groups=groups)
    with pytest.raises(ValueError, match="at least 2 training spots"):
        baselines.predict_baselines(x, y, np.arange(1), np.arange(5, 9), methods=("ridge",), groups=groups)
    assert baselines.comparable(("ridge", "shuffled", "knn")) == ["ridge", "knn"]


def test_a_one_gene_panel_keeps_its_gene_axis(linear):
    x, y, groups = linear
    for method in ("ridge", "knn", "shuffled"):
        predicted = baselines.predict_baselines(
            x, y[:, :1], np.arange(200), np.arange(200, 300), methods=(method,), groups=groups
        )[method]
        assert predicted.shape == (100, 1), method
