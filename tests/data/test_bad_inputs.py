"""Bad inputs raise a clear error (naming the problem and the fix) and leave the SpatialData object unchanged."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hyperst.data import extract_crops, prepare_spots


@pytest.fixture
def sdata(tiny_sdata):
    import spatialdata as sd

    return sd.deepcopy(tiny_sdata)


def _snapshot(sdata):
    table = sdata.tables["table"]
    return {
        "elements": (sorted(sdata.images), sorted(sdata.shapes), sorted(sdata.tables)),
        "X": table.X.copy(),
        "obs": table.obs.copy(),
        "var": table.var.copy(),
        "uns": sorted(table.uns),
        "obsm": sorted(table.obsm),
        "obsp": sorted(table.obsp),
        "centres": sdata.shapes["S1_spots"].geometry.copy(),
    }


def _assert_unchanged(sdata, before):
    after = _snapshot(sdata)
    assert after["elements"] == before["elements"]
    assert (after["X"] != before["X"]).nnz == 0
    assert after["obs"].equals(before["obs"]) and after["var"].equals(before["var"])
    assert (after["uns"], after["obsm"], after["obsp"]) == (before["uns"], before["obsm"], before["obsp"])
    assert after["centres"].geom_equals(before["centres"]).all()


def _replace_image(sdata, array):
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import get_transformation

    transformations = get_transformation(sdata.images["S1_image"], get_all=True)
    sdata.images["S1_image"] = Image2DModel.parse(array, dims=("c", "y", "x"), transformations=transformations)


def _move_spots(sdata, offset):
    from spatialdata.models import ShapesModel
    from spatialdata.transformations import get_transformation

    old = sdata.shapes["S1_spots"]
    xy = np.column_stack([old.geometry.x, old.geometry.y]) + np.asarray(offset)
    transformations = get_transformation(old, get_all=True)
    moved = ShapesModel.parse(
        xy, geometry=0, radius=old["radius"].to_numpy(), index=old.index, transformations=transformations
    )
    sdata.shapes["S1_spots"] = moved


def test_all_spots_outside_the_image(sdata):
    _move_spots(sdata, (5000, 5000))
    before = _snapshot(sdata)
    with pytest.raises(ValueError, match="outside image 'S1_image'.*transformations"):
        prepare_spots(sdata)
    _assert_unchanged(sdata, before)


def test_spots_near_the_edge_are_padded_or_excluded(sdata, caplog):
    _move_spots(sdata, (-sdata.shapes["S1_spots"].geometry.x.min() + 3, 0))  # leftmost column 3 px from the edge
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        padded = prepare_spots(sdata, out_of_bounds="pad")
    assert "leave the image" in caplog.text
    edge = np.flatnonzero(~padded.in_bounds)
    assert edge.size > 0 and padded.trainable[edge].all()
    at_edge = edge[padded.centres_px[edge, 0] < 5]  # 3 px from the edge: ~60 of 127.5 px are outside
    crops = extract_crops(padded, at_edge, kind="niche", size=32)
    assert at_edge.size and (crops[:, :, :, :14] == 255).all() and (crops[:, :, :, 16:] < 255).any()
    excluded = prepare_spots(sdata, out_of_bounds="exclude")
    assert not excluded.trainable[edge].any() and excluded.trainable[padded.in_bounds].all()
    assert excluded.n_spots == padded.n_spots  # prediction never loses a spot
    with pytest.raises(ValueError, match="out_of_bounds"):
        prepare_spots(sdata, out_of_bounds="drop")


def test_all_spots_off_tissue(sdata):
    _replace_image(sdata, np.full((3, *sdata.images["S1_image"].shape[1:]), 245, dtype=np.uint8))
    before = _snapshot(sdata)
    with pytest.raises(ValueError, match="lies on tissue.*check_tissue=False"):
        prepare_spots(sdata)
    _assert_unchanged(sdata, before)
    assert prepare_spots(sdata, check_tissue=False).n_spots == 40


def test_no_shared_coordinate_system(sdata):
    from spatialdata.transformations import Identity, set_transformation

    set_transformation(sdata.images["S1_image"], {"elsewhere": Identity()}, set_all=True)
    before = _snapshot(sdata)
    with pytest.raises(ValueError, match="No image shares a coordinate system with shapes 'S1_spots'"):
        prepare_spots(sdata)
    with pytest.raises(ValueError, match="Image 'S1_image' has no coordinate system shared with shapes 'S1_spots'"):
        prepare_spots(sdata, image_key="S1_image")
    with pytest.raises(KeyError, match="not an image"):
        prepare_spots(sdata, image_key="missing")
    _assert_unchanged(sdata, before)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda rgb: rgb[:1], "1 channel"),
        (lambda rgb: rgb.astype(np.uint16) * 200, "dtype uint16"),
        (lambda rgb: rgb.astype(np.int32), "dtype int32"),
    ],
)
def test_unsupported_images_are_refused(sdata, make, match):
    _replace_image(sdata, make(np.asarray(sdata.images["S1_image"])))
    before = _snapshot(sdata)
    with pytest.raises(TypeError, match=match):
        prepare_spots(sdata)
    _assert_unchanged(sdata, before)


def test_rgba_and_float_images_are_converted(tiny_sdata, sdata):
    reference = extract_crops(prepare_spots(tiny_sdata), np.arange(5), kind="spot", size=24).astype(int)
    rgb = np.asarray(sdata.images["S1_image"])
    _replace_image(sdata, np.concatenate([rgb, np.full_like(rgb[:1], 255)]))  # RGBA: alpha dropped
    np.testing.assert_array_equal(extract_crops(prepare_spots(sdata), np.arange(5), kind="spot", size=24), reference)
    _replace_image(sdata, rgb.astype(np.float32) / 255)  # float in [0, 1]: scaled to 0-255
    spots = prepare_spots(sdata)
    assert spots.sections[0].value_scale == 255.0
    crops = extract_crops(spots, np.arange(5), kind="spot", size=24).astype(int)
    assert np.abs(crops - reference).max() <= 1


@pytest.mark.parametrize(
    ("value", "match"), [(np.nan, "NaN"), (-1.0, "negative"), (0.5, "not integers"), (np.inf, "infinite")]
)
def test_bad_counts(sdata, value, match):
    table = sdata.tables["table"]
    table.X = table.X.toarray()
    table.X[3, 2] = value
    before = table.X.copy()
    with pytest.raises(ValueError, match=match):
        prepare_spots(sdata)
    np.testing.assert_array_equal(table.X, before)


def test_missing_and_repeated_genes(sdata):
    before = _snapshot(sdata)
    with pytest.raises(KeyError, match=r"Table 'table' lacks 1 of the 2 requested genes: \['NOPE'\]"):
        prepare_spots(sdata, genes=["G000", "NOPE"])
    with pytest.raises(ValueError, match="repeat"):
        prepare_spots(sdata, genes=["G000", "G000"])
    with pytest.raises(KeyError, match="No layer 'counts'"):
        prepare_spots(sdata, layer="counts")
    _assert_unchanged(sdata, before)


def test_duplicate_gene_names(sdata):
    table = sdata.tables["table"]
    table.var_names = ["G000"] * 2 + table.var_names[2:].tolist()
    with pytest.raises(ValueError, match="duplicate gene names.*var_names_make_unique"):
        prepare_spots(sdata)
    assert table.var_names[0] == table.var_names[1] == "G000"


def test_empty_table(sdata):
    sdata.tables["table"] = sdata.tables["table"][:, :0].copy()  # no genes (SpatialData refuses a table without rows)
    with pytest.raises(ValueError, match="empty"):
        prepare_spots(sdata)
    with pytest.raises(KeyError, match="No table 'counts'"):
        prepare_spots(sdata, table_key="counts")


def test_table_annotates_a_missing_element(sdata):
    table = sdata.tables["table"]
    del sdata.shapes["S1_spots"]
    before_obs = table.obs.copy()
    with pytest.raises(KeyError, match="annotates 'S1_spots', which is not an element"):
        prepare_spots(sdata)
    assert table.obs.equals(before_obs)


def test_table_without_annotation(sdata):
    del sdata.tables["table"].uns["spatialdata_attrs"]
    with pytest.raises(KeyError, match=r"'table' does not say which spots it annotates.*TableModel\.parse"):
        prepare_spots(sdata)


def test_table_rows_without_spots(sdata):
    table = sdata.tables["table"]
    table.obs["spot_id"] = table.obs["spot_id"].to_numpy() + 1000
    with pytest.raises(KeyError, match="missing from shapes 'S1_spots'"):
        prepare_spots(sdata)


def test_table_free_prediction_needs_spots_key(tiny_sdata):
    with pytest.raises(ValueError, match="spots_key"):
        prepare_spots(tiny_sdata, table_key=None)
    with pytest.raises(KeyError, match="not found"):
        prepare_spots(tiny_sdata, table_key=None, spots_key="nope")
    spots = prepare_spots(tiny_sdata, table_key=None, spots_key="S1_spots")
    assert spots.counts is None and spots.n_spots == 40 and not spots.trainable.any()
    assert list(spots.obs["section"].unique()) == ["S1_spots"]
