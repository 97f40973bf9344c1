"""``hst.datasets.her2st``: offline from a filled cache, downloads verified by sha256, crops at physical scale.

Real-data tests read the shared her2st copy (../shared/data/her2st) and skip where it is absent.
"""

from __future__ import annotations

import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hyperst as hst
from hyperst.datasets import _her2st, _registry

SECTION = "C2"
LOCAL_NAMES = {"counts.tsv.gz": "counts.tsv.gz", "spots.tsv": "spots.tsv", "he.jpg": "he.jpg"}
UNREACHABLE = "http://127.0.0.1:9/unreachable/"  # any download attempt fails


def _link_cache(her2st_dir: Path, root: Path, sections) -> Path:
    for section in sections:
        (root / "her2st" / section).mkdir(parents=True, exist_ok=True)
        for name in LOCAL_NAMES:
            (root / "her2st" / section / name).symlink_to(her2st_dir / section / name)
    return root


@pytest.fixture(scope="session")
def her2st_c2(her2st_dir, tmp_path_factory):
    """Section C2 loaded offline from a cache of symlinks to the shared copy."""
    cache = _link_cache(her2st_dir, tmp_path_factory.mktemp("cache"), [SECTION])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HYPERST_DATA_DIR", str(cache))
        patch.setattr(_registry, "HER2ST_BASE_URL", UNREACHABLE)
        return hst.datasets.her2st([SECTION])


def test_registry_matches_the_shared_copy(her2st_dir):
    for section in _registry.HER2ST_IMAGES:
        for name in _registry.her2st_files(section):
            local = her2st_dir / section / name.rsplit("/", 1)[1]
            if local.exists():
                assert hashlib.sha256(local.read_bytes()).hexdigest() == _registry.HER2ST_SHA256[name], name
    assert _registry.her2st_files("B4")["her2st/B4/he.jpg"] == "data/ST-imgs/B/B4/BT10737_D2_HE.jpg"


def test_offline_structure(her2st_c2):
    sdata = her2st_c2
    assert sorted(sdata.images) == ["C2_image"] and sorted(sdata.shapes) == ["C2_spots"]
    image = sdata.images["C2_image"]
    assert image.shape == (3, 9911, 9274) and image.dtype == np.uint8
    assert image.data.npartitions > 1  # dask chunks
    table = sdata.tables["table"]
    assert table.n_obs == 187 and table.n_vars > 15000
    assert set(table.obs["section"]) == {"C2"} and set(table.obs["patient"]) == {"C"}
    counts = table.X.data
    assert (counts >= 0).all() and (counts == np.round(counts)).all()
    assert table.obs_names[0].startswith("C2_") and "x" in table.obs_names[0]
    mpp = table.uns["her2st"]["microns_per_pixel"]["C2"]
    assert 0.6 < mpp < 0.8
    radius_um = sdata.shapes["C2_spots"]["radius"].iloc[0] * mpp
    assert radius_um == pytest.approx(50.0)


def test_crops_at_physical_size_on_tissue(her2st_c2):
    from hyperst.data import extract_crops, prepare_spots, tissue_fraction

    table = her2st_c2.tables["table"]
    spots = prepare_spots(her2st_c2, genes=table.var_names[:20].tolist())
    section = spots.sections[0]
    assert section.grid == "square"
    # neighbouring array positions (one step in x or y) are 200 µm apart: measure that distance in pixels
    xy = table.obsm["spatial"]
    array = table.obs[["array_x", "array_y"]].to_numpy()
    step = np.abs(array[:, None] - array[None]).sum(-1) == 1
    spacing_px = np.linalg.norm(xy[:, None] - xy[None], axis=-1)[step].mean()
    assert section.spot_spacing_um / section.microns_per_pixel == pytest.approx(spacing_px, rel=0.03)
    assert section.crop_px("niche") == pytest.approx(spacing_px * 500 / 200, rel=0.03)  # 2 spacings + 1 diameter
    assert section.crop_px("spot") == pytest.approx(spacing_px * 112 / 200, rel=0.03)
    degree = np.asarray(spots.neighbours.sum(axis=1)).ravel()
    assert np.median(degree) == 8 and degree.max() == 8
    crops = extract_crops(spots, np.arange(0, spots.n_spots, 9), kind="spot", size=24)
    assert np.mean(tissue_fraction(crops) > 0.5) > 0.9  # spots selected under tissue land on tissue


def test_download_verifies_checksums(her2st_dir, tmp_path, monkeypatch):
    served = tmp_path / "served"
    for name, path in _registry.her2st_files(SECTION).items():
        target = served / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(her2st_dir / SECTION / name.rsplit("/", 1)[1])
    handler = partial(_QuietHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(_registry, "HER2ST_BASE_URL", f"http://127.0.0.1:{server.server_port}/")
        cache = tmp_path / "cache"
        monkeypatch.setenv("HYPERST_DATA_DIR", str(cache))
        monkeypatch.setattr(_her2st, "_read_section", lambda section, paths: paths)  # the download is under test
        monkeypatch.setattr(_her2st, "_assemble", lambda parts, join: parts)
        paths = hst.datasets.her2st([SECTION])[0]
        assert sorted(paths) == sorted(LOCAL_NAMES)
        for name, path in paths.items():
            assert path == cache / "her2st" / SECTION / name and not path.is_symlink()
            assert hashlib.sha256(path.read_bytes()).hexdigest() == _registry.HER2ST_SHA256[f"her2st/{SECTION}/{name}"]

        # a server that returns other bytes: the checksum check refuses the file
        counts = served / _registry.her2st_files(SECTION)[f"her2st/{SECTION}/counts.tsv.gz"]
        counts.unlink()
        counts.write_bytes(b"not the counts")
        monkeypatch.setenv("HYPERST_DATA_DIR", str(tmp_path / "other_cache"))
        with pytest.raises(ValueError, match="hash"):
            hst.datasets.her2st([SECTION])
        monkeypatch.setattr(_registry, "HER2ST_BASE_URL", UNREACHABLE)
        with pytest.raises(OSError, match="Could not download.*HYPERST_DATA_DIR"):
            hst.datasets.her2st([SECTION])
    finally:
        server.shutdown()
        server.server_close()


def test_bad_arguments():
    with pytest.raises(ValueError, match="among"):
        hst.datasets.her2st(["Z9"])
    with pytest.raises(ValueError, match="distinct"):
        hst.datasets.her2st(["C2", "C2"])
    with pytest.raises(ValueError, match="join"):
        hst.datasets.her2st(["C2"], join="outer")


def test_gene_join():
    import dask.array as da

    def part(section, genes):
        counts = pd.DataFrame([[1, 2]], index=["1x1"], columns=genes)
        image = da.zeros((3, 8, 8), dtype=np.uint8)
        return {
            "section": section,
            "counts": counts,
            "array_xy": np.array([[1, 1]]),
            "pixel_xy": np.array([[4.0, 4.0]]),
            "image": image,
            "microns_per_pixel": 0.7,
        }

    parts = [part("C2", ["A", "B"]), part("C3", ["B", "C"])]
    union = _her2st._assemble(parts, "union").tables["table"]
    assert union.var_names.tolist() == ["A", "B", "C"]
    np.testing.assert_array_equal(union.X.toarray(), [[1, 2, 0], [0, 1, 2]])
    inner = _her2st._assemble(parts, "inner").tables["table"]
    assert inner.var_names.tolist() == ["B"]
    np.testing.assert_array_equal(inner.X.toarray(), [[2], [1]])


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
