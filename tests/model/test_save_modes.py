"""A saved model folder is shareable (modes from the umask) and only a trained model can be saved (issue 23)."""

from __future__ import annotations

import os
import stat

import pytest

import hyperst as hst


@pytest.fixture
def umask():
    """Run the test under ``umask(value)``; the previous umask is restored."""
    previous = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(previous)


@pytest.mark.parametrize(("mask", "folder", "file"), [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664)])
def test_saved_folder_and_files_take_their_modes_from_the_umask(toy_model, tmp_path, umask, mask, folder, file):
    umask(mask)
    path = tmp_path / "shared" / "model"
    toy_model.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == folder
    files = sorted(path.iterdir())
    assert {p.name for p in files} >= {"config.json", "model.safetensors"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: file for p in files}
    toy_model.save(path, overwrite=True)  # replacing keeps them
    assert stat.S_IMODE(path.stat().st_mode) == folder


def test_an_untrained_model_is_not_saved(tmp_path):
    model = hst.HyperST(["A", "B"], encoder="cnn", embed_dim=8)
    with pytest.raises(ValueError, match=r"untrained.*hst\.tl\.fit"):
        model.save(tmp_path / "model")
    assert not (tmp_path / "model").exists() and list(tmp_path.iterdir()) == []
