"""A fake HEST-1k folder written from the toy slide: counts, pyramidal TIFFs and metadata, no ``tissue_seg/``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

TOY_MPP = 2.0  # pixel size of hst.datasets.toy's images


def write_pyramid(path: Path, rgb: np.ndarray, n_levels: int = 3) -> None:
    """Write ``(y, x, 3)`` uint8 as a tiled TIFF with ``n_levels`` levels (SubIFDs, halving each time)."""
    import tifffile

    with tifffile.TiffWriter(path) as tiff:
        tiff.write(rgb, tile=(64, 64), subifds=n_levels - 1, photometric="rgb")
        for level in range(1, n_levels):
            tiff.write(rgb[:: 2**level, :: 2**level], tile=(64, 64), subfiletype=1, photometric="rgb")


def write_sample(root: Path, sample: str, sdata, section: str, *, pyramid: bool = True, **metadata) -> None:
    """Write one toy section as HEST sample ``sample``: st/{id}.h5ad, wsis/{id}.tif, metadata/{id}.json."""
    import anndata as ad

    for folder in ("st", "wsis", "metadata"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    table = sdata.tables["table"]
    rows = (table.obs["section"] == section).to_numpy()
    counts = ad.AnnData(X=table.X[rows].toarray(), var=table.var[[]].copy())
    counts.obs_names = [f"bc{i}" for i in range(counts.n_obs)]
    counts.obs["in_tissue"] = 1
    counts.obsm["spatial"] = table.obsm["spatial"][rows]
    counts.write_h5ad(root / "st" / f"{sample}.h5ad")
    rgb = np.asarray(sdata.images[f"{section}_image"].data).transpose(1, 2, 0)
    if pyramid:
        write_pyramid(root / "wsis" / f"{sample}.tif", rgb)
    else:
        import tifffile

        tifffile.imwrite(root / "wsis" / f"{sample}.tif", rgb, photometric="rgb")
    meta = {
        "id": sample,
        "pixel_size_um_estimated": TOY_MPP,
        "spot_diameter": 55.0,
        "inter_spot_dist": 100.0,
        "st_technology": "Visium",
        "organ": "Breast",
        "patient": f"patient_{section}",
        "species": "Homo sapiens",
    } | metadata
    (root / "metadata" / f"{sample}.json").write_text(json.dumps(meta))


@pytest.fixture(scope="session")
def hest_writer():
    """``write(root, sample, sdata, section, pyramid=True, **metadata)`` writes one toy section as a HEST sample."""
    return write_sample


@pytest.fixture(scope="session")
def hest_dir(tmp_path_factory, toy_sdata) -> Path:
    """Two HEST samples (``TOY1``, ``TOY2``) made from the two toy sections; no optional folders."""
    root = tmp_path_factory.mktemp("hest")
    write_sample(root, "TOY1", toy_sdata, "S1")
    write_sample(root, "TOY2", toy_sdata, "S2", st_technology="Visium", organ="Bowel")
    return root
