"""Scanpy / squidpy Visium AnnData (``uns["spatial"]``) converted with spatialdata-io resolves and crops correctly."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst.data import extract_crops, prepare_spots


@pytest.fixture(scope="module")
def legacy_adata(tiny_sdata):
    """A scanpy-style Visium AnnData built from the toy slide (2 µm/px full resolution)."""
    import anndata as ad

    table = tiny_sdata.tables["table"]
    full = np.asarray(tiny_sdata.images["S1_image"]).transpose(1, 2, 0)  # (y, x, c)
    scalefactors = {"tissue_hires_scalef": 0.5, "tissue_lowres_scalef": 0.125, "spot_diameter_fullres": 27.5}
    images = {  # scanpy stores float images in [0, 1]
        "hires": (full[::2, ::2] / 255).astype(np.float32),
        "lowres": (full[::8, ::8] / 255).astype(np.float32),
    }
    return ad.AnnData(
        X=table.X.copy(),
        obs=table.obs[["section", "patient"]].copy(),
        var=table.var[[]].copy(),
        obsm={"spatial": table.obsm["spatial"].copy()},  # full-resolution pixels
        uns={"spatial": {"lib": {"images": images, "scalefactors": scalefactors}}},
    )


def test_from_legacy_anndata(legacy_adata, tiny_sdata):
    from spatialdata_io.experimental import from_legacy_anndata

    sdata = from_legacy_anndata(legacy_adata)
    spots = prepare_spots(sdata)
    section = spots.sections[0]
    assert section.image_key == "lib_hires"  # the finer of hires and lowres
    assert section.grid == "hexagonal"
    assert section.microns_per_pixel == pytest.approx(4.0)  # 2 µm/px full resolution, hires scale factor 0.5
    assert section.spot_diameter_um == pytest.approx(55.0)
    assert section.value_scale == 255.0  # float image in [0, 1]
    np.testing.assert_allclose(section.centres_px, legacy_adata.obsm["spatial"] * 0.5)
    assert spots.counts.shape == legacy_adata.shape and spots.in_bounds.all()

    crops = extract_crops(spots, kind="niche", size=16).astype(float)
    reference = extract_crops(prepare_spots(tiny_sdata), kind="niche", size=16).astype(float)
    assert np.abs(crops.mean(axis=(2, 3)) - reference.mean(axis=(2, 3))).max() < 8
    assert np.corrcoef(crops.ravel(), reference.ravel())[0, 1] > 0.8
