from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

import hyperst as hst


def test_structure(toy_sdata):
    from spatialdata.models import get_table_keys
    from spatialdata.transformations import get_transformation

    sdata = toy_sdata
    assert sorted(sdata.images) == ["S1_image", "S2_image"]
    assert sorted(sdata.shapes) == ["S1_spots", "S2_spots"]
    table = sdata.tables["table"]
    assert table.shape == (240, 30)
    regions, region_key, instance_key = get_table_keys(table)
    assert sorted(regions) == ["S1_spots", "S2_spots"]
    assert (region_key, instance_key) == ("region", "spot_id")
    assert set(table.obs["section"]) == {"S1", "S2"}
    assert set(table.obs["patient"]) == {"P1", "P2"}
    assert table.obs_names.is_unique and table.var_names.is_unique

    counts = table.X.toarray() if sparse.issparse(table.X) else table.X
    assert np.all(counts >= 0) and np.all(counts == np.round(counts))
    assert counts.sum(axis=1).min() > 0

    for section in ("S1", "S2"):
        image, spots = sdata.images[f"{section}_image"], sdata.shapes[f"{section}_spots"]
        assert image.dims == ("c", "y", "x") and image.shape[0] == 3 and image.dtype == np.uint8
        assert set(get_transformation(image, get_all=True)) == {section}
        assert set(get_transformation(spots, get_all=True)) == {section}
        # Visium geometry: 55 µm spots 100 µm apart (coordinate system unit: µm, 2 µm per pixel).
        scale = get_transformation(spots, to_coordinate_system=section).to_affine_matrix(("x", "y"), ("x", "y"))[0, 0]
        assert spots["radius"].iloc[0] * 2 * scale == pytest.approx(55.0)
        xy = np.stack([spots.geometry.x, spots.geometry.y], axis=1) * scale
        nearest = np.sort(np.linalg.norm(xy[:, None] - xy[None], axis=2), axis=1)[:, 1]
        assert np.allclose(nearest, 100.0)
        # every spot lies inside the image, with room for a niche crop around it
        height, width = image.shape[1:]
        assert xy[:, 0].min() / scale > 64 and xy[:, 0].max() / scale < width - 64
        assert xy[:, 1].min() / scale > 64 and xy[:, 1].max() / scale < height - 64


def test_image_varies_in_colour_and_texture(toy_sdata):
    image = np.asarray(toy_sdata.images["S1_image"]).astype(float)
    centre = image[:, image.shape[1] // 2 - 100 : image.shape[1] // 2 + 100, image.shape[2] // 2 - 100 :][:, :, :200]
    tiles = centre.reshape(3, 4, 50, 4, 50).transpose(1, 3, 0, 2, 4).reshape(16, 3, -1)
    assert tiles.mean(axis=2).std(axis=0).min() > 2  # colour changes from tile to tile
    assert tiles.std(axis=2).mean() > 10  # texture inside a tile
    corner = image[:, :20, :20]
    assert corner.mean() > 230  # background outside the tissue is bright


def test_deterministic_by_seed():
    a = hst.datasets.toy(n_sections=1, n_spots=50, n_genes=10, seed=3)
    b = hst.datasets.toy(n_sections=1, n_spots=50, n_genes=10, seed=3)
    c = hst.datasets.toy(n_sections=1, n_spots=50, n_genes=10, seed=4)
    np.testing.assert_array_equal(a.tables["table"].X.toarray(), b.tables["table"].X.toarray())
    np.testing.assert_array_equal(np.asarray(a.images["S1_image"]), np.asarray(b.images["S1_image"]))
    assert not np.array_equal(np.asarray(a.images["S1_image"]), np.asarray(c.images["S1_image"]))


def test_zarr_round_trip(toy_sdata, tmp_path):
    from spatialdata import read_zarr

    path = tmp_path / "toy.zarr"
    toy_sdata.write(path)
    back = read_zarr(path)
    assert sorted(back.images) == sorted(toy_sdata.images)
    assert sorted(back.shapes) == sorted(toy_sdata.shapes)
    np.testing.assert_array_equal(back.tables["table"].X.toarray(), toy_sdata.tables["table"].X.toarray())
    np.testing.assert_array_equal(np.asarray(back.images["S2_image"]), np.asarray(toy_sdata.images["S2_image"]))
    assert back.tables["table"].obs["section"].tolist() == toy_sdata.tables["table"].obs["section"].tolist()


def test_passes_spatialdata_validation(toy_sdata):
    from spatialdata.models import Image2DModel, ShapesModel, TableModel

    for image in toy_sdata.images.values():
        Image2DModel().validate(image)
    for shapes in toy_sdata.shapes.values():
        ShapesModel().validate(shapes)
    TableModel().validate(toy_sdata.tables["table"])


def test_patients_round_robin():
    sdata = hst.datasets.toy(n_sections=4, n_spots=20, n_genes=5, n_patients=2, seed=0)
    per_section = sdata.tables["table"].obs.groupby("section", observed=True)["patient"].first()
    assert per_section.tolist() == ["P1", "P2", "P1", "P2"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_spots": 0}, "n_spots"),
        ({"n_genes": -1}, "n_genes"),
        ({"n_sections": 2, "n_patients": 3}, "n_patients"),
        ({"microns_per_pixel": 0}, "microns_per_pixel"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hst.datasets.toy(**kwargs)
