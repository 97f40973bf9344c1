from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from spatialdata import deepcopy as sd_deepcopy
from spatialdata.models import get_table_keys

import hyperst as hst


@pytest.fixture
def sdata(toy_sdata):
    return sd_deepcopy(toy_sdata)


def test_fit_records_history_and_parameters(toy_model):
    assert toy_model.is_trained and len(toy_model.history) >= 1
    expected = {"train_loss", "train_mse", "train_hca", "train_hea", "val_loss", "val_mse", "curvature", "temperature"}
    assert expected <= set(toy_model.history.columns)
    assert np.isfinite(toy_model.history.to_numpy()).all()
    assert toy_model.train_params["seed"] == 0 and toy_model.train_params["n_validation_spots"] > 0
    assert "HyperST(30 genes" in repr(toy_model)


def test_predict_writes_the_contract_table(sdata, toy_model):
    table_before = sdata.tables["table"].copy()
    hst.tl.predict(sdata, toy_model)
    out = sdata.tables["hyperst"]
    source = sdata.tables["table"]

    assert out.n_obs == source.n_obs and list(out.var_names) == toy_model.genes
    assert get_table_keys(out) == get_table_keys(source)  # same region / instance keys, same elements
    np.testing.assert_array_equal(out.X, out.layers["predicted"])
    assert out.layers["predicted"].dtype == np.float32
    counts = source[out.obs_names, toy_model.genes].X.toarray()
    np.testing.assert_allclose(out.layers["observed"], np.log2(1 + counts), rtol=1e-6)
    for level in ("image_spot", "image_niche", "gene_spot", "gene_niche"):
        embedding = out.obsm[f"hyperst_{level}"]
        assert embedding.shape == (out.n_obs, 32) and np.isfinite(embedding).all()
    assert out.obsm["spatial"].shape == (out.n_obs, 2)
    provenance = out.uns["hyperst"]
    json.dumps(provenance)
    assert provenance["genes"] == toy_model.genes and provenance["encoder"]["name"] == "cnn"
    assert 0.1 <= provenance["curvature"] <= 10
    assert provenance["sections"]["S1_spots"]["spot_crop_um"] == pytest.approx(112.0)
    # the input table is untouched
    np.testing.assert_array_equal(source.X.toarray(), table_before.X.toarray())
    assert list(source.obs.columns) == list(table_before.obs.columns) and set(source.layers) == set()


def test_output_survives_zarr(sdata, toy_model, tmp_path):
    from spatialdata import read_zarr

    hst.tl.predict(sdata, toy_model)
    hst.tl.evaluate(sdata)
    sdata.write(tmp_path / "out.zarr")
    back = read_zarr(tmp_path / "out.zarr").tables["hyperst"]
    np.testing.assert_array_equal(back.layers["predicted"], sdata.tables["hyperst"].layers["predicted"])
    assert back.uns["hyperst"]["metrics"]["raw"]["mse"] == pytest.approx(
        sdata.tables["hyperst"].uns["hyperst"]["metrics"]["raw"]["mse"]
    )


def test_key_added_overwrite_and_inplace(sdata, toy_model):
    hst.tl.predict(sdata, toy_model)
    first = sdata.tables["hyperst"].layers["predicted"].copy()
    with pytest.raises(ValueError, match="overwrite=True"):
        hst.tl.predict(sdata, toy_model)
    hst.tl.predict(sdata, toy_model, overwrite=True)
    np.testing.assert_array_equal(sdata.tables["hyperst"].layers["predicted"], first)  # eval mode: deterministic
    returned = hst.tl.predict(sdata, toy_model, inplace=False, key_added="other")
    assert "other" not in sdata.tables and returned.n_obs == sdata.tables["table"].n_obs


def test_predict_without_measurements(sdata, toy_model):
    hst.tl.predict(sdata, toy_model, table_key=None, spots_key="S2_spots", key_added="he_only")
    out = sdata.tables["he_only"]
    assert out.n_obs == len(sdata.shapes["S2_spots"]) and "observed" not in out.layers
    assert {"hyperst_image_spot", "hyperst_image_niche"} <= set(out.obsm) and "hyperst_gene_spot" not in out.obsm
    assert get_table_keys(out)[0] in ("S2_spots", ["S2_spots"])
    with pytest.raises(KeyError, match="observed"):
        hst.tl.evaluate(sdata, table_key="he_only")


def test_save_load_reproduces_predictions(sdata, toy_model, tmp_path):
    toy_model.save(tmp_path / "model")
    loaded = hst.HyperST.load(tmp_path / "model")
    assert loaded.genes == toy_model.genes and loaded.config == toy_model.config
    assert loaded.history.equals(toy_model.history) or np.allclose(loaded.history, toy_model.history)
    a = hst.tl.predict(sdata, toy_model, inplace=False)
    b = hst.tl.predict(sdata, loaded, inplace=False)
    np.testing.assert_array_equal(a.layers["predicted"], b.layers["predicted"])
    np.testing.assert_array_equal(a.obsm["hyperst_image_spot"], b.obsm["hyperst_image_spot"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        toy_model.save(tmp_path / "model")


def test_load_rejects_tampered_and_newer(toy_model, tmp_path):
    path = tmp_path / "model"
    toy_model.save(path)
    config = json.loads((path / "config.json").read_text())

    (path / "config.json").write_text(json.dumps({**config, "hyperst_version": "999.0.0"}))
    with pytest.raises(ValueError, match="newer than the installed"):
        hst.HyperST.load(path)

    (path / "config.json").write_text(json.dumps({**config, "genes": config["genes"][:-1]}))
    with pytest.raises(ValueError, match="do not match"):
        hst.HyperST.load(path)

    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="Cannot read the weights"):
        hst.HyperST.load(path)

    with pytest.raises(FileNotFoundError, match="HyperST.save"):
        hst.HyperST.load(tmp_path / "nowhere")


def test_untrained_model_cannot_predict(sdata):
    model = hst.HyperST(list(sdata.tables["table"].var_names), encoder="cnn", embed_dim=16)
    with pytest.raises(ValueError, match="hst.tl.fit"):
        hst.tl.predict(sdata, model)
    assert "hyperst" not in sdata.tables


def test_predict_warns_and_predicts_on_partial_gene_match(sdata, toy_model, caplog):
    """One rule for missing genes (issue 23): some or all missing, predict warns and writes predictions only."""
    table = sdata.tables["table"]
    table.var_names = [f"X{g}" if i < 3 else g for i, g in enumerate(table.var_names)]
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        hst.tl.predict(sdata, toy_model)
    assert f"lacks 3 of the model's {len(toy_model.genes)} genes" in caplog.text
    output = sdata.tables["hyperst"]
    assert list(output.var_names) == toy_model.genes and "observed" not in output.layers


def test_fit_bad_inputs(sdata, fast_fit_kwargs):
    with pytest.raises(ValueError, match="at least 2 spots per batch"):
        hst.tl.fit(sdata, max_epochs=1, **{**fast_fit_kwargs, "batch_size": 1})
    table = sdata.tables["table"]
    before = table.X.copy()
    table.X = table.X.multiply(0).tocsr()
    with pytest.raises(ValueError, match="zero|counts"):
        hst.tl.fit(sdata, max_epochs=1, **fast_fit_kwargs)
    table.X = before.copy()
    table.X.data[:5] = -1
    with pytest.raises(ValueError, match="negative"):
        hst.tl.fit(sdata, max_epochs=1, **fast_fit_kwargs)
    table.X = before.copy()
    table.X.data[:5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hst.tl.fit(sdata, max_epochs=1, **fast_fit_kwargs)
    table.X = before
    with pytest.raises(ValueError, match="Unknown `device"):
        hst.tl.fit(sdata, max_epochs=1, device="tpu", **fast_fit_kwargs)


def test_predict_on_tiled_tissue_without_a_table(sdata, toy_model):
    hst.pp.tile_tissue(sdata, "S1_image")
    tiles = sdata.shapes["S1_image_tiles"]
    hst.tl.predict(sdata, toy_model, table_key=None, spots_key="S1_image_tiles", key_added="tiles_pred")
    out = sdata.tables["tiles_pred"]
    assert out.n_obs == len(tiles) and np.isfinite(out.layers["predicted"]).all()
    assert "observed" not in out.layers
    assert out.uns["hyperst"]["sections"]["S1_image_tiles"]["microns_per_pixel"] == pytest.approx(2.0, rel=0.01)


def test_a_black_background_export_predicts_what_the_white_slide_does(
    toy_sdata, black_toy_sdata, toy_model, fast_fit_kwargs
):
    """Crops paint a masked export's black as glass: the black copy predicts what the slide does (within tolerance)."""
    black = black_toy_sdata
    assert toy_model.background == "white"
    slide = hst.tl.predict(toy_sdata, toy_model, inplace=False).layers["predicted"]
    painted = hst.tl.predict(black, toy_model, inplace=False).layers["predicted"]
    # switched off, the black export moves the predictions far more
    kept_model = hst.tl.fit(toy_sdata, max_epochs=3, background="keep", **fast_fit_kwargs)
    kept_slide = hst.tl.predict(toy_sdata, kept_model, inplace=False).layers["predicted"]
    kept = hst.tl.predict(black, kept_model, inplace=False).layers["predicted"]
    assert np.abs(painted - slide).mean() < 0.25 * np.abs(kept - kept_slide).mean()
    assert np.corrcoef(painted.ravel(), slide.ravel())[0, 1] > 0.98


def test_predict_records_each_spots_tissue_fraction(toy_sdata, toy_model):
    from hyperst.data import extract_crops, prepare_spots, tissue_fraction

    out = hst.tl.predict(toy_sdata, toy_model, inplace=False)
    fraction = out.obs["hyperst_tissue_fraction"].to_numpy()
    expected = tissue_fraction(extract_crops(prepare_spots(toy_sdata, background="white"), kind="spot", size=32))
    np.testing.assert_allclose(fraction, expected, atol=1e-6)
    assert 0 < fraction.min() and fraction.max() <= 1


def test_a_scan_coarser_than_the_working_resolution_is_reported(toy_sdata, toy_model, caplog):
    import logging

    import dask.array as da
    import spatialdata
    from skimage.transform import resize
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import Scale, Sequence, get_transformation

    coarse = spatialdata.deepcopy(toy_sdata)
    with caplog.at_level(logging.INFO, logger="hyperst"):
        hst.tl.predict(coarse, toy_model, inplace=False)
    assert "coarser than" not in caplog.text
    for key, image in list(coarse.images.items()):
        pixels = np.asarray(image.data.compute()).transpose(1, 2, 0)
        factor = 8.0
        small = resize(pixels, (round(pixels.shape[0] / factor), round(pixels.shape[1] / factor)), preserve_range=True)
        scale = Scale([factor, factor], axes=("y", "x"))
        transformations = {cs: Sequence([scale, t]) for cs, t in get_transformation(image, get_all=True).items()}
        data = da.from_array(small.round().astype(np.uint8).transpose(2, 0, 1))
        coarse.images[key] = Image2DModel.parse(data, dims=("c", "y", "x"), transformations=transformations)
    with caplog.at_level(logging.WARNING, logger="hyperst"):
        hst.tl.predict(coarse, toy_model, inplace=False)
    assert "coarser than" in caplog.text and "S1_image" in caplog.text
