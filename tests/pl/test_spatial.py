"""``hst.pl.spatial_genes``: the right values in every panel, one colour scale per gene, r in the title, every option.

Rendering goes through spatialdata-plot (about a second per panel), so the tests draw a handful of panels in all.
Warnings are errors inside each test body (``_strict``): the shared fixtures are built during setup, and building
them imports third-party code that warns. One third-party warning is ignored: spatialdata-plot 0.4 calls
``Colormap.set_bad``, which matplotlib 3.11 marks as pending deprecation; nothing in hyperst can avoid it.
"""

from __future__ import annotations

import contextlib
import warnings

import matplotlib
import numpy as np
import pytest
import spatialdata
import spatialdata_plot  # noqa: F401  (imported here: importing it warns, which the strict tests would catch)

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.colors import Normalize

import hyperst as hst
from hyperst.pl._utils import EXPRESSION_CMAP, OOD_CMAP, RESIDUAL_CMAP, SD_CMAP

SET_BAD = r"The set_bad function will be deprecated"


@contextlib.contextmanager
def _strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=SET_BAD, category=PendingDeprecationWarning)
        yield


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _values(table, region: str, gene: str, layer: str) -> np.ndarray:
    rows = (table.obs["region"].astype(str) == region).to_numpy()
    return np.asarray(table[rows, gene].layers[layer], dtype=np.float64).ravel()


def _spots(ax):
    (collection,) = ax.collections
    return collection


def _expected_colours(values: np.ndarray, cmap: str, clim: tuple[float, float]) -> np.ndarray:
    return plt.get_cmap(cmap)(Normalize(*clim)(values))


def _derived(sdata, *, observed: bool, table_key: str = "hyperst"):
    """A SpatialData sharing ``sdata``'s elements, with a copy of its ``hyperst`` table (as ``table_key``) that
    has no per-gene metrics and, with ``observed=False``, no measured values (an H&E-only prediction)."""
    table = sdata.tables["hyperst"].copy()
    table.var = table.var[[]]
    if not observed:
        del table.layers["observed"]
    return spatialdata.SpatialData(images=dict(sdata.images), shapes=dict(sdata.shapes), tables={table_key: table})


def _snapshot(sdata) -> dict:
    table = sdata.tables["hyperst"]
    return {
        "tables": sorted(sdata.tables),
        "layers": sorted(table.layers),
        "obs": list(table.obs.columns),
        "var": list(table.var.columns),
        "uns": sorted(table.uns),
        "observed": np.asarray(table.layers["observed"]).copy(),
        "shapes": {k: (list(v.columns), v.index.tolist()) for k, v in sdata.shapes.items()},
        "images": {k: id(v) for k, v in sdata.images.items()},
    }


def test_rows_panels_values_and_shared_scale(predicted_sdata):
    sdata, table = predicted_sdata, predicted_sdata.tables["hyperst"]
    before = _snapshot(sdata)
    gene = "G004"
    with _strict():
        fig = hst.pl.spatial_genes(sdata, gene, return_fig=True, figsize=(10, 6))
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 6 and len(bars) == 4  # 2 sections x observed | predicted | residual; 2 bars per row
    assert tuple(fig.get_size_inches()) == (10, 6)

    expression_limits, r = [], table.var.loc[gene, "pearson"]
    for row, (region, section) in enumerate((("S1_spots", "S1"), ("S2_spots", "S2"))):
        observed_ax, predicted_ax, residual_ax = panels[3 * row : 3 * row + 3]
        assert observed_ax.get_title() == f"{gene} observed ({section})"
        assert predicted_ax.get_title() == f"{gene} predicted ({section}), r = {r:.2f} (all sections)"  # evaluate's
        assert residual_ax.get_title() == f"{gene} residual ({section})"
        observed, predicted = _values(table, region, gene, "observed"), _values(table, region, gene, "predicted")
        for ax, values, cmap in (
            (observed_ax, observed, EXPRESSION_CMAP),
            (predicted_ax, predicted, EXPRESSION_CMAP),
            (residual_ax, observed - predicted, RESIDUAL_CMAP),
        ):
            assert len(ax.images) == 1  # the H&E under the spots
            spots = _spots(ax)
            # each spot is coloured by its own value of the panel's layer on the panel's scale
            expected = _expected_colours(values, cmap, spots.get_clim())
            np.testing.assert_allclose(spots.get_facecolors()[:, :3], expected[:, :3], atol=1e-6)
        expression_limits += [_spots(observed_ax).get_clim(), _spots(predicted_ax).get_clim()]
        low, high = _spots(residual_ax).get_clim()
        assert low == -high and high >= np.abs(observed - predicted).max() - 1e-6

    # one colour scale for the gene: observed and predicted, both sections, spanning all their values
    assert len(set(expression_limits)) == 1
    both = np.concatenate([table[:, gene].layers[k].ravel() for k in ("observed", "predicted")])
    np.testing.assert_allclose(expression_limits[0], (both.min(), both.max()), rtol=1e-6)
    # nothing of the user's object changed, no image copied
    after = _snapshot(sdata)
    np.testing.assert_array_equal(after.pop("observed"), before.pop("observed"))
    assert after == before


def test_one_row_per_gene_with_its_own_scale(predicted_sdata):
    table = predicted_sdata.tables["hyperst"]
    genes = ["G017", "G002"]  # observed ranges far apart (about 0-9.8 and 0-3.2 in S1)
    with _strict():
        fig = hst.pl.spatial_genes(predicted_sdata, genes, sections="S1", panels="predicted", return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title().split()[0] for ax in panels] == genes  # rows in the order asked for
    for gene, ax in zip(genes, panels, strict=True):  # the limits span the shown spots (section S1) of the gene
        both = np.concatenate([_values(table, "S1_spots", gene, k) for k in ("observed", "predicted")])
        np.testing.assert_allclose(_spots(ax).get_clim(), (both.min(), both.max()), rtol=1e-6)
    assert _spots(panels[0]).get_clim() != _spots(panels[1]).get_clim()


def test_r_computed_on_shown_spots_without_evaluation(predicted_sdata):
    sdata = _derived(predicted_sdata, observed=True)
    table = sdata.tables["hyperst"]
    observed = _values(table, "S2_spots", "G001", "observed")
    predicted = _values(table, "S2_spots", "G001", "predicted")
    r = np.corrcoef(observed, predicted)[0, 1]
    r_all = np.corrcoef(table[:, "G001"].layers["observed"].ravel(), table[:, "G001"].layers["predicted"].ravel())
    assert f"{r:.2f}" != f"{r_all[0, 1]:.2f}"  # the title can tell the shown section's r from the table's
    with _strict():
        fig = hst.pl.spatial_genes(sdata, ["G001"], sections=["S2"], panels="predicted", return_fig=True)
    (ax,) = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert ax.get_title() == f"G001 predicted (S2), r = {r:.2f} (this section)"


def test_he_only_predictions_on_callers_axes(predicted_sdata):
    sdata = _derived(predicted_sdata, observed=False)
    before = plt.get_fignums()
    fig, ax = plt.subplots()
    with _strict():
        result = hst.pl.spatial_genes(sdata, "G002", sections="S1_spots", ax=ax, show=False)
    assert result is None
    assert plt.get_fignums() == [*before, fig.number]  # the caller's figure stays open
    assert ax.get_title() == "G002 predicted (S1)"  # no r without measurements
    expected = _expected_colours(
        _values(sdata.tables["hyperst"], "S1_spots", "G002", "predicted"), EXPRESSION_CMAP, _spots(ax).get_clim()
    )
    np.testing.assert_allclose(_spots(ax).get_facecolors()[:, :3], expected[:, :3], atol=1e-6)
    with pytest.raises(ValueError, match="'observed' and 'residual' panels do not exist"):
        hst.pl.spatial_genes(sdata, "G002", panels=["observed", "predicted"])


def test_save_closes_the_figure_and_panel_subset(predicted_sdata, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    sdata = _derived(predicted_sdata, observed=True, table_key="preds")  # any `key_added`
    before = plt.get_fignums()
    with _strict():
        result = hst.pl.spatial_genes(
            sdata,
            "G003",
            table_key="preds",
            sections="S1",
            panels=["residual", "observed"],
            save=tmp_path / "g.png",
            show=False,
        )
    assert result is None and not shown
    assert plt.get_fignums() == before  # neither returned nor shown: closed
    assert (tmp_path / "g.png").stat().st_size > 0
    with _strict():
        fig = hst.pl.spatial_genes(sdata, "G003", table_key="preds", sections="S1", panels="residual")
    assert fig is None and shown == [True]  # shown by default, like scanpy


def test_bad_inputs(predicted_sdata):
    sdata = predicted_sdata
    with pytest.raises(KeyError, match=r"hst\.tl\.predict"):
        hst.pl.spatial_genes(sdata, "G000", table_key="missing")
    with pytest.raises(KeyError, match="NOT_A_GENE"):
        hst.pl.spatial_genes(sdata, ["G000", "NOT_A_GENE"])
    with pytest.raises(ValueError, match="empty"):
        hst.pl.spatial_genes(sdata, [])
    with pytest.raises(KeyError, match="S9.*holds sections"):
        hst.pl.spatial_genes(sdata, "G000", sections="S9")
    with pytest.raises(ValueError, match="panels"):
        hst.pl.spatial_genes(sdata, "G000", panels="histology")
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="single panel"):
        hst.pl.spatial_genes(sdata, "G000", sections="S1", ax=ax)
    no_spots = spatialdata.SpatialData(images=dict(sdata.images), tables={"hyperst": sdata.tables["hyperst"]})
    with pytest.raises(KeyError, match="not in the SpatialData object"):
        hst.pl.spatial_genes(no_spots, "G000")
    unannotated = sdata.tables["hyperst"].copy()
    del unannotated.uns["spatialdata_attrs"]
    bare = spatialdata.SpatialData(
        images=dict(sdata.images), shapes=dict(sdata.shapes), tables={"hyperst": unannotated}
    )
    with pytest.raises(KeyError, match=r"does not say which spots it annotates.*hst\.tl\.predict"):
        hst.pl.spatial_genes(bare, "G000")
    no_images = spatialdata.SpatialData(shapes=dict(sdata.shapes), tables={"hyperst": sdata.tables["hyperst"]})
    with pytest.raises(ValueError, match="No H&E image"):
        hst.pl.spatial_genes(no_images, "G000", sections="S1")


def test_uncertainty_panels_draw_the_sd_and_the_ood_score(predicted_sdata):
    sdata = _derived(predicted_sdata, observed=True)
    table = sdata.tables["hyperst"]
    table.layers["predicted_sd"] = np.abs(table.layers["observed"] - table.layers["predicted"]) + 0.1
    gene, region = "G004", "S1_spots"
    with _strict():
        fig = hst.pl.spatial_genes(sdata, gene, sections="S1", uncertainty=True, return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels[3:]] == [f"{gene} sd (S1)", "out of distribution (S1)"]
    sd_spots, ood_spots = _spots(panels[3]), _spots(panels[4])
    expected = _expected_colours(_values(table, region, gene, "predicted_sd"), SD_CMAP, sd_spots.get_clim())
    np.testing.assert_allclose(sd_spots.get_facecolors()[:, :3], expected[:, :3], atol=1e-6)
    assert ood_spots.get_clim() == (0.0, 1.0)
    rows = (table.obs["region"].astype(str) == region).to_numpy()
    expected = _expected_colours(table.obs["hyperst_ood"].to_numpy()[rows], OOD_CMAP, (0.0, 1.0))
    np.testing.assert_allclose(ood_spots.get_facecolors()[:, :3], expected[:, :3], atol=1e-6)


def test_uncertainty_says_which_panel_it_cannot_draw(predicted_sdata, caplog):
    import logging

    sdata = _derived(predicted_sdata, observed=True)  # a single model: an OOD score, no sd
    with _strict(), caplog.at_level(logging.WARNING, logger="hyperst"):
        fig = hst.pl.spatial_genes(sdata, "G004", sections="S1", uncertainty=True, return_fig=True)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert panels[-1].get_title() == "out of distribution (S1)" and len(panels) == 4
    assert "has no layers['predicted_sd']: drawing ood only" in caplog.text


def test_uncertainty_needs_what_it_draws(predicted_sdata):
    sdata = _derived(predicted_sdata, observed=True)
    with pytest.raises(ValueError, match="predicted_sd"):  # a single model: no sd
        hst.pl.spatial_genes(sdata, "G000", panels=["predicted", "predicted_sd"])
    del sdata.tables["hyperst"].obs["hyperst_ood"]
    with pytest.raises(ValueError, match="neither"):
        hst.pl.spatial_genes(sdata, "G000", uncertainty=True)
