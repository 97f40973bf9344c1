"""``hst.pl.poincare`` and its projection: distances from the origin kept exactly, every option drawn truthfully."""

from __future__ import annotations

import warnings

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.legend import Legend
from matplotlib.patches import Polygon

import hyperst as hst
from hyperst import geometry
from hyperst.pl._poincare import LABELS
from hyperst.pl._poincare_projection import (
    cone_outline,
    geodesic_segment,
    half_aperture,
    poincare_projection,
    to_disk,
)
from hyperst.pl._utils import OKABE_ITO

LEVELS = ("image_spot", "image_niche", "gene_spot", "gene_niche")
CURVATURES = (0.1, 0.7, 1.0, 3.7, 10.0)
# Warnings are errors in every test. Tests that use the shared session fixtures turn them into errors in their body
# only, as the fixtures may be built during their setup (building them imports third-party code that warns).
warnings_are_errors = pytest.mark.filterwarnings("error")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _lorentz(n: int, dim: int, curv: float, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Random points (float64): anisotropic tangent vectors at the origin sent through ``geometry.exp_map0``."""
    tangent = rng.normal(size=(n, dim)) * np.linspace(2.0, 0.2, dim) * scale
    return geometry.exp_map0(torch.from_numpy(tangent), curv).numpy()


def _table(n: int = 40, dim: int = 6, curv: float = 1.3, levels=LEVELS, seed: int = 0) -> ad.AnnData:
    """A small prediction table as ``hst.tl.predict`` writes it, levels at increasing distances from the origin."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(5)]
    obs = pd.DataFrame(
        {
            "section": pd.Categorical(rng.choice(["S1", "S2", "S3"], n)),
            "score": rng.normal(size=n),
            "flag": rng.random(n) > 0.5,
        },
        index=[f"spot{i}" for i in range(n)],
    )
    predicted = rng.random((n, len(genes))).astype(np.float32)
    table = ad.AnnData(X=predicted.copy(), obs=obs, var=pd.DataFrame(index=genes))
    table.layers["predicted"] = predicted
    table.layers["observed"] = rng.random((n, len(genes))).astype(np.float32)
    for i, level in enumerate(levels):
        table.obsm[f"hyperst_{level}"] = _lorentz(n, dim, curv, rng, scale=0.3 * (i + 1)).astype(np.float32)
    table.uns["hyperst"] = {"curvature": curv, "geometry": "lorentz", "config": {"entailment_k": 0.1}}
    return table


def _scatter(fig, level: str) -> PathCollection:
    (collection,) = [c for c in fig.axes[0].collections if c.get_label() == LABELS[level]]
    return collection


def _expected_radius(x: np.ndarray, curv: float) -> np.ndarray:
    """Unit-disk radius at the true distance from the origin, from the torch geometry (the oracle)."""
    distance = geometry.dist0(torch.from_numpy(np.asarray(x, dtype=np.float64)), curv).numpy()
    return np.tanh(np.sqrt(curv) * distance / 2)


# --- the projection -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("curv", CURVATURES)
@pytest.mark.parametrize("seed", [0, 1])
@warnings_are_errors
def test_projection_keeps_distance_from_origin(curv, seed):
    rng = np.random.default_rng(seed)
    far = rng.normal(size=(20, 8))
    far *= np.logspace(2, 6, 20)[:, None] / np.linalg.norm(far, axis=1, keepdims=True)  # sqrt(c) ||x|| up to 3e6
    levels = {
        "near": _lorentz(50, 8, curv, rng, scale=1e-3),
        "mid": _lorentz(50, 8, curv, rng),
        "saturated": _lorentz(50, 8, curv, rng, scale=100.0),  # exp_map0 clamps sqrt(c) ||x|| at 2**15
        "far": far,
        "origin": np.zeros((1, 8)),
    }
    disk, _ = poincare_projection(levels, curv)
    for name, x in levels.items():
        radius = np.linalg.norm(disk[name], axis=1)
        truth = geometry.dist0(torch.from_numpy(x), curv).numpy()
        np.testing.assert_allclose(2 * np.arctanh(radius) / np.sqrt(curv), truth, rtol=1e-6, atol=1e-12, err_msg=name)
        poincare = np.linalg.norm(geometry.to_poincare(torch.from_numpy(x), curv).numpy(), axis=1)
        np.testing.assert_allclose(radius, poincare, rtol=1e-10, atol=1e-15, err_msg=name)
    assert (np.linalg.norm(disk["far"], axis=1) < 1).all()


@pytest.mark.parametrize("curv", CURVATURES)
@warnings_are_errors
def test_projection_is_an_isometry_in_two_dimensions(curv):
    x = _lorentz(30, 2, curv, np.random.default_rng(3))
    disk, _ = poincare_projection({"points": x}, curv)
    u = disk["points"]
    squared = ((u[:, None] - u[None]) ** 2).sum(-1)
    scale = (1 - (u**2).sum(1))[:, None] * (1 - (u**2).sum(1))[None]
    on_disk = np.arccosh(1 + 2 * squared / scale) / np.sqrt(curv)
    truth = geometry.pairwise_dist(torch.from_numpy(x), torch.from_numpy(x), curv).numpy()
    off_diagonal = ~np.eye(len(x), dtype=bool)
    np.testing.assert_allclose(on_disk[off_diagonal], truth[off_diagonal], rtol=1e-6)


@warnings_are_errors
def test_projection_is_deterministic_and_invariant_to_rotations_and_row_order():
    rng = np.random.default_rng(0)
    levels = {"a": _lorentz(40, 6, 1.0, rng), "b": _lorentz(30, 6, 1.0, rng, scale=2.0)}
    disk, axes = poincare_projection(levels, 1.0)
    again, _ = poincare_projection({k: v.copy() for k, v in levels.items()}, 1.0)
    for name in levels:
        np.testing.assert_array_equal(disk[name], again[name])
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # an isometry fixing the origin, reflections included
    for transformed in ({k: v @ rotation for k, v in levels.items()}, {k: -v for k, v in levels.items()}):
        moved, _ = poincare_projection(transformed, 1.0)
        for name in levels:
            np.testing.assert_allclose(moved[name], disk[name], atol=1e-10)
    reordered, _ = poincare_projection({"b": levels["b"], "a": levels["a"][::-1]}, 1.0)  # level and row order
    np.testing.assert_allclose(reordered["a"], disk["a"][::-1], atol=1e-10)
    np.testing.assert_allclose(reordered["b"], disk["b"], atol=1e-10)
    # Points placed later in the same frame land where the joint projection put them.
    np.testing.assert_allclose(to_disk(levels["a"], 1.0, axes), disk["a"])


@warnings_are_errors
def test_projection_bad_inputs():
    with pytest.raises(ValueError, match="positive"):
        poincare_projection({"a": np.ones((2, 3))}, 0.0)
    with pytest.raises(ValueError, match="same dimension"):
        poincare_projection({"a": np.ones((2, 3)), "b": np.ones((2, 4))}, 1.0)


@pytest.mark.parametrize("curv", [0.3, 1.0, 4.0])
@warnings_are_errors
def test_cone_rays_meet_the_true_aperture(curv):
    """Points on the drawn rays (2-D, where the disk is exact) sit at the exterior angle equal to the half-aperture."""
    rc = np.sqrt(curv)
    for apex_disk in ([0.3, 0.2], [-0.5, 0.6], [0.05, -0.02], [0.0, -0.9]):
        apex_disk = np.asarray(apex_disk)
        apex = 2 * apex_disk / (rc * (1 - apex_disk @ apex_disk))  # inverse of geometry.to_poincare
        aperture = float(half_aperture(apex[None], curv, 0.1)[0])
        oracle = geometry.half_aperture(torch.from_numpy(apex), curv, min_radius=0.1).item()
        inside = np.sqrt(curv) * np.linalg.norm(apex) <= 0.2  # widest cone: pi / 2 (the oracle clamps near it)
        assert aperture == (np.pi / 2 if inside else pytest.approx(oracle, abs=1e-6))
        assert aperture == pytest.approx(oracle, abs=2e-4)
        ray = cone_outline(apex_disk, aperture, n=20)[1:19]  # the ray at -aperture, apex and rim end left out
        children = 2 * ray / (rc * (1 - (ray**2).sum(1, keepdims=True)))
        angles = geometry.exterior_angle(torch.from_numpy(apex)[None], torch.from_numpy(children), curv).numpy()
        np.testing.assert_allclose(angles, aperture, atol=1e-5)


@warnings_are_errors
def test_half_aperture_matches_geometry_and_geodesic_segments_are_shortest():
    x = _lorentz(50, 5, 2.0, np.random.default_rng(1), scale=0.5)
    oracle = geometry.half_aperture(torch.from_numpy(x), 2.0, min_radius=0.1).numpy()
    np.testing.assert_allclose(half_aperture(x, 2.0, 0.1), oracle, atol=1e-6)
    assert np.ptp(half_aperture(np.zeros((3, 5)), 2.0, 0.1) - np.pi / 2) == 0  # widest cone inside the 2K ball

    a, b = np.array([0.4, -0.3]), np.array([-0.6, 0.5])
    path = geodesic_segment(a, b, n=9)
    np.testing.assert_allclose(path[[0, -1]], [a, b], atol=1e-12)
    lorentz = torch.from_numpy(2 * path / (1 - (path**2).sum(1, keepdims=True)))  # curvature -1
    steps = geometry.dist(lorentz[:-1], lorentz[1:], 1.0).sum().item()
    assert steps == pytest.approx(geometry.dist(lorentz[0], lorentz[-1], 1.0).item(), rel=1e-6)


# --- the plot -------------------------------------------------------------------------------------------------------


@warnings_are_errors
def test_default_plot_draws_every_level_at_its_true_radius():
    table = _table()
    fig = hst.pl.poincare(table, return_fig=True)
    assert len(fig.axes) == 2  # disk and distance panel
    for level in LEVELS:
        offsets = _scatter(fig, level).get_offsets()
        assert len(offsets) == table.n_obs
        np.testing.assert_allclose(
            np.linalg.norm(offsets, axis=1), _expected_radius(table.obsm[f"hyperst_{level}"], 1.3), rtol=1e-6
        )
        assert to_rgba(_scatter(fig, level).get_facecolor()[0], alpha=1) == to_rgba(OKABE_ITO[LEVELS.index(level)])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [LABELS[level] for level in LEVELS]
    assert "Poincaré disk" in fig.axes[0].get_title()
    # The side panel: one box per level, medians at the true median distances.
    boxes = fig.axes[1]
    assert [t.get_text() for t in boxes.get_xticklabels()] == [LABELS[level] for level in LEVELS]
    medians = [line.get_ydata()[0] for line in boxes.lines if line.get_gid() == "median"]
    truth = [np.median(geometry.dist0(torch.from_numpy(table.obsm[f"hyperst_{lv}"]), 1.3).numpy()) for lv in LEVELS]
    np.testing.assert_allclose(medians, truth, rtol=1e-5)


@warnings_are_errors
def test_subsample_keeps_the_same_spots_at_every_level():
    table = _table(n=60)
    fig = hst.pl.poincare(table, max_points=25, seed=3, return_fig=True, distances=False)
    assert len(fig.axes) == 1
    chosen = []
    for level in LEVELS:
        radius = np.linalg.norm(_scatter(fig, level).get_offsets(), axis=1)
        expected = _expected_radius(table.obsm[f"hyperst_{level}"], 1.3)
        chosen.append(np.abs(radius[:, None] - expected[None]).argmin(axis=1))
        np.testing.assert_allclose(radius, expected[chosen[-1]], rtol=1e-6)
    assert len(set(chosen[0])) == 25
    assert all(np.array_equal(rows, chosen[0]) for rows in chosen)
    again = hst.pl.poincare(table, max_points=25, seed=3, return_fig=True)
    np.testing.assert_array_equal(
        _scatter(again, "gene_niche").get_offsets(), _scatter(fig, "gene_niche").get_offsets()
    )
    medians = [line.get_ydata()[0] for line in again.axes[1].lines if line.get_gid() == "median"]
    truth = [np.median(geometry.dist0(torch.from_numpy(table.obsm[f"hyperst_{lv}"]), 1.3).numpy()) for lv in LEVELS]
    np.testing.assert_allclose(medians, truth, rtol=1e-5)  # the side panel summarises every spot, not the subsample


@warnings_are_errors
def test_colour_by_categorical_obs():
    table = _table()
    fig = hst.pl.poincare(table, color="section", return_fig=True)
    codes = table.obs["section"].cat.codes.to_numpy()
    for level in LEVELS:
        colours = _scatter(fig, level).get_facecolor()[:, :3]
        np.testing.assert_allclose(colours, [to_rgba(OKABE_ITO[c])[:3] for c in codes])
    assert _category_legend(fig) == ("section", ["S1", "S2", "S3"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [LABELS[level] for level in LEVELS]
    assert "section" in fig.axes[0].get_title()
    table.obs.loc["spot0", "section"] = np.nan  # a missing category is grey and named in the legend
    fig = hst.pl.poincare(table, color="section", return_fig=True)
    assert _category_legend(fig) == ("section", ["S1", "S2", "S3", "NA"])
    assert to_rgba(_scatter(fig, "image_spot").get_facecolor()[0], alpha=1) == to_rgba("lightgrey")
    bool_fig = hst.pl.poincare(table, color="flag", return_fig=True)  # booleans are categories too
    assert _category_legend(bool_fig) == ("flag", ["False", "True"])


def _category_legend(fig) -> tuple[str, list[str]]:
    (legend,) = [artist for artist in fig.axes[0].artists if isinstance(artist, Legend)]
    return legend.get_title().get_text(), [t.get_text() for t in legend.get_texts()]


@warnings_are_errors
def test_colour_by_numeric_obs_and_gene():
    table = _table()
    fig = hst.pl.poincare(table, color="score", return_fig=True, distances=False)
    np.testing.assert_allclose(_scatter(fig, "image_spot").get_array(), table.obs["score"])
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "score"  # the colour bar
    for layer in ("predicted", "observed"):
        fig = hst.pl.poincare(table, color="G2", layer=layer, return_fig=True)
        np.testing.assert_allclose(_scatter(fig, "gene_niche").get_array(), table.layers[layer][:, 2])
        assert f"G2 ({layer}" in fig.axes[-1].get_ylabel()


@warnings_are_errors
def test_links_join_the_embeddings_of_a_spot():
    table = _table()
    spots = [3, "spot7"]
    fig = hst.pl.poincare(table, links=spots, return_fig=True)
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segments = lines.get_segments()
    assert len(segments) == 4 * len(spots)  # four hierarchy edges per spot
    ends = {tuple(np.round(seg[i], 9)) for seg in segments for i in (0, -1)}
    plotted = {tuple(np.round(_scatter(fig, lv).get_offsets()[row], 9)) for lv in LEVELS for row in (3, 7)}
    assert ends == plotted
    assert len(hst.pl.poincare(table, links=5, return_fig=True).axes[0].collections[-1].get_segments()) == 20


@warnings_are_errors
def test_cones_are_drawn_at_the_chosen_parents():
    table = _table()
    fig = hst.pl.poincare(table, cones=[0, 5], cone_levels=["image_spot", "gene_spot"], return_fig=True)
    polygons = [p for p in fig.axes[0].patches if isinstance(p, Polygon)]
    assert len(polygons) == 4
    apexes = {tuple(np.round(p.get_xy()[0], 9)) for p in polygons}
    expected = {
        tuple(np.round(_scatter(fig, lv).get_offsets()[row], 9)) for lv in ("image_spot", "gene_spot") for row in (0, 5)
    }
    assert apexes == expected
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "cone of image, spot" in legend and "cone of gene, spot" in legend
    # Random cones are among random links (one order of spots).
    fig = hst.pl.poincare(table, cones=2, links=6, return_fig=True)
    link_points = {tuple(np.round(pt, 9)) for seg in fig.axes[0].collections[-2].get_segments() for pt in seg[[0, -1]]}
    cone_apexes = {tuple(np.round(p.get_xy()[0], 9)) for p in fig.axes[0].patches if isinstance(p, Polygon)}
    assert len(cone_apexes) == 2 and cone_apexes <= link_points


@warnings_are_errors
def test_ax_save_and_figure_lifetime(tmp_path):
    table = _table()
    before = plt.get_fignums()
    assert hst.pl.poincare(table, show=False, save=tmp_path / "disk.png") is None
    assert (tmp_path / "disk.png").stat().st_size > 10_000
    assert plt.get_fignums() == before  # closed: nobody holds it
    fig, ax = plt.subplots()
    assert hst.pl.poincare(table, ax=ax, links=2) is None
    assert fig.axes == [ax] and len(ax.collections) == 5  # only the disk: four levels and the links
    assert plt.fignum_exists(fig.number)  # the caller's figure stays open


@warnings_are_errors
def test_image_levels_only():
    table = _table(levels=("image_spot", "image_niche"))
    fig = hst.pl.poincare(table, return_fig=True)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["image, spot", "image, niche"]
    assert len(hst.pl.poincare(table, links=3, return_fig=True).axes[0].collections[-1].get_segments()) == 3
    with pytest.raises(KeyError, match="none of the levels"):
        hst.pl.poincare(table, levels=["gene_spot", "gene_niche"])
    with pytest.raises(ValueError, match="none of the plotted levels"):
        hst.pl.poincare(table, cones=2, cone_levels="gene_spot")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"levels": ["image_spot", "cell"]}, ValueError, "Unknown embedding level"),
        ({"color": "nope"}, KeyError, "neither an obs column nor a gene"),
        ({"color": "G0", "layer": "counts"}, KeyError, "no layer 'counts'"),
        ({"cone_levels": "gene_niche", "cones": 1}, ValueError, "not parents of the hierarchy"),
        ({"links": ["spot999"]}, KeyError, "no spot named"),
        ({"links": [40]}, ValueError, "neither an obs name nor a row index"),
        ({"links": True}, TypeError, "number of random spots"),
        ({"cones": -1}, ValueError, "non-negative"),
        ({"max_points": 0}, ValueError, "max_points"),
    ],
)
@warnings_are_errors
def test_bad_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        hst.pl.poincare(_table(), **kwargs)


@warnings_are_errors
def test_bad_tables():
    table = _table()
    euclidean = table.copy()
    euclidean.uns["hyperst"] = {"geometry": "euclidean", "config": {}}
    with pytest.raises(ValueError, match="no hyperbolic embeddings"):
        hst.pl.poincare(euclidean)
    bare = table.copy()
    del bare.uns["hyperst"]
    with pytest.raises(KeyError, match="Run `hst.tl.predict` first"):
        hst.pl.poincare(bare)
    no_k = table.copy()
    no_k.uns["hyperst"] = {"curvature": 1.3, "geometry": "lorentz"}
    with pytest.raises(KeyError, match="entailment_k"):
        hst.pl.poincare(no_k, cones=1)
    ambiguous = table.copy()
    ambiguous.obs["G1"] = 1.0
    with pytest.raises(ValueError, match="both an obs column and a gene"):
        hst.pl.poincare(ambiguous, color="G1")
    with pytest.raises(TypeError, match="SpatialData object or an AnnData"):
        hst.pl.poincare(table.obs)


# --- on the output of hst.tl.predict --------------------------------------------------------------------------------


def test_on_predicted_sdata(predicted_sdata):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_predicted_sdata(predicted_sdata)


def _check_predicted_sdata(predicted_sdata):
    table = predicted_sdata.tables["hyperst"]
    curv = table.uns["hyperst"]["curvature"]
    fig = hst.pl.poincare(predicted_sdata, color="section", links=3, cones=2, return_fig=True)
    for level in LEVELS:
        offsets = _scatter(fig, level).get_offsets()
        np.testing.assert_allclose(
            np.linalg.norm(offsets, axis=1), _expected_radius(table.obsm[f"hyperst_{level}"], curv), rtol=1e-5
        )
    with pytest.raises(KeyError, match="No table 'predictions'.*Run `hst.tl.predict` first"):
        hst.pl.poincare(predicted_sdata, table_key="predictions")


def test_on_predicted_table_without_gene_levels(predicted_sdata):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_image_levels_only(predicted_sdata)


def _check_image_levels_only(predicted_sdata):
    table = predicted_sdata.tables["hyperst"].copy()  # as predicted from H&E alone: no gene embeddings
    del table.obsm["hyperst_gene_spot"], table.obsm["hyperst_gene_niche"]
    del table.layers["observed"]
    fig = hst.pl.poincare(table, color=table.var_names[0], return_fig=True)
    assert {c.get_label() for c in fig.axes[0].collections} == {LABELS["image_spot"], LABELS["image_niche"]}
    assert len(fig.axes[1].get_xticklabels()) == 2
    with pytest.raises(KeyError, match="no layer 'observed'"):
        hst.pl.poincare(table, color=table.var_names[0], layer="observed")
