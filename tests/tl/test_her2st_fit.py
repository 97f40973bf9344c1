"""Real data: fit on two her2st sections of patient C, predict the section of patient B (skips without ../shared)."""

from __future__ import annotations

import numpy as np
import pytest

import hyperst as hst
from hyperst.datasets import _registry

SECTIONS = ["C2", "C3", "B4"]


@pytest.fixture(scope="module")
def her2st(her2st_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("her2st_cache")
    for section in SECTIONS:
        folder = cache / "her2st" / section
        folder.mkdir(parents=True)
        for name in ("counts.tsv.gz", "spots.tsv", "he.jpg"):
            (folder / name).symlink_to(her2st_dir / section / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HYPERST_DATA_DIR", str(cache))
        patch.setattr(_registry, "HER2ST_BASE_URL", "http://127.0.0.1:9/unreachable/")
        return hst.datasets.her2st(SECTIONS)


@pytest.mark.slow
@pytest.mark.realdata
def test_fit_two_sections_predict_held_out_patient(her2st):
    train = her2st.subset(["C2_image", "C2_spots", "C3_image", "C3_spots"], filter_tables=True)
    assert set(train.tables["table"].obs["section"]) == {"C2", "C3"}
    hst.pp.select_genes(train, n_genes=40, method="hvg")
    genes = train.tables["table"].var_names[train.tables["table"].var["hyperst_gene"]].tolist()

    model = hst.tl.fit(
        train,
        encoder="squidpy",
        encoder_kwargs={"input_size": 32},
        embed_dim=64,
        batch_size=64,
        lr=3e-3,
        max_epochs=15,
        progress_bar=False,
    )
    assert model.genes == genes

    hst.tl.predict(her2st, model, spots_key="B4_spots")
    out = her2st.tables["hyperst"]
    assert out.n_obs == (her2st.tables["table"].obs["section"] == "B4").sum() == 283
    provenance = out.uns["hyperst"]["sections"]["B4_spots"]
    assert provenance["grid"] == "square" and provenance["spot_crop_um"] == pytest.approx(112.0)
    assert provenance["niche_crop_um"] == pytest.approx(500.0, rel=0.02)

    hst.tl.evaluate(her2st)
    raw = out.uns["hyperst"]["metrics"]["raw"]
    # Patient B was never seen and is sequenced ~15x shallower: the raw panel correlation (mostly tissue density)
    # must still be clearly positive.
    assert raw["pcc_mean"] > 0.2, raw
    assert np.isfinite(out.obsm["hyperst_image_spot"]).all()
