"""``hst.datasets.hest`` offline: the Hub download is replaced by a copy from a local fake HEST folder."""

from __future__ import annotations

import fnmatch
import shutil
import types
from pathlib import Path

import pytest
from huggingface_hub import errors

import hyperst as hst


@pytest.fixture
def fake_hub(monkeypatch, hest_dir):
    """Replace ``snapshot_download`` by a copy of the files of ``hest_dir`` matching ``allow_patterns``."""
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, *, repo_type, local_dir, allow_patterns, token=None, **kwargs):
        calls.append({"repo_id": repo_id, "repo_type": repo_type, "allow_patterns": list(allow_patterns)})
        for path in Path(hest_dir).rglob("*"):
            name = path.relative_to(hest_dir).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(name, pattern) for pattern in allow_patterns):
                (Path(local_dir) / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, Path(local_dir) / name)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_downloads_only_the_listed_samples_then_reads_them(fake_hub, tmp_path):
    sdata = hst.datasets.hest(ids=["TOY2"], data_dir=tmp_path)
    assert fake_hub == [
        {
            "repo_id": "MahmoodLab/hest",
            "repo_type": "dataset",
            "allow_patterns": ["st/TOY2.h5ad", "wsis/TOY2.tif", "metadata/TOY2.json"],
        }
    ]
    assert sorted(p.name for p in (tmp_path / "hest" / "st").iterdir()) == ["TOY2.h5ad"]
    assert set(sdata.shapes) == {"TOY2_spots"}
    assert sdata.tables["table"].n_obs == 120
    # cached: a second call reads without downloading
    hst.datasets.hest(ids="TOY2", data_dir=tmp_path)
    assert len(fake_hub) == 1


def test_cache_follows_the_environment(fake_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERST_DATA_DIR", str(tmp_path))
    hst.datasets.hest(ids=["TOY1"], include=["tissue_seg"])
    assert (tmp_path / "hest" / "wsis" / "TOY1.tif").is_file()
    assert fake_hub[0]["allow_patterns"][-1] == "tissue_seg/TOY1[_.]*"


def test_unknown_id_and_bad_ids(fake_hub, tmp_path):
    with pytest.raises(KeyError, match=r"no samples \['NOPE'\].*HEST_v1_1_0.csv"):
        hst.datasets.hest(ids=["TOY1", "NOPE"], data_dir=tmp_path)
    with pytest.raises(ValueError, match="distinct"):
        hst.datasets.hest(ids=[], data_dir=tmp_path)


def _http_error(cls, status):
    return cls("denied", response=types.SimpleNamespace(status_code=status, headers={}, request=None))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (lambda: _http_error(errors.GatedRepoError, 403), PermissionError),
        (lambda: _http_error(errors.HfHubHTTPError, 401), PermissionError),
        (lambda: _http_error(errors.HfHubHTTPError, 500), OSError),
    ],
)
def test_gated_access_says_how_to_get_it(monkeypatch, tmp_path, error, expected):
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise error()

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with pytest.raises(expected) as caught:
        hst.datasets.hest(ids=["TENX95"], data_dir=tmp_path)
    if expected is PermissionError:
        assert "accept the terms" in str(caught.value) and "HF_TOKEN" in str(caught.value)
    assert not (tmp_path / "hest" / "st").exists()
