"""``hst.io.read_wsi``: pyramidal TIFFs (SubIFDs or pages, as pyvips writes them) as lazy multiscale images."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from spatialdata.transformations import Scale, get_transformation
from xarray import DataTree

import hyperst as hst
from hyperst.data import image_levels


def _rgb(side: int = 256) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)


@pytest.mark.parametrize("layout", ["subifds", "pages"])
def test_pyramid_levels_become_scales(tmp_path, layout):
    rgb = _rgb()
    with tifffile.TiffWriter(tmp_path / "slide.tif") as tiff:
        tiff.write(rgb, tile=(64, 64), photometric="rgb", subifds=2 if layout == "subifds" else None)
        for level in (1, 2):
            tiff.write(rgb[:: 2**level, :: 2**level], tile=(64, 64), photometric="rgb", subfiletype=1)
    image = hst.io.read_wsi(tmp_path / "slide.tif", transformations={"s": Scale([0.5, 0.5], axes=("y", "x"))})
    assert isinstance(image, DataTree)
    levels = image_levels(image, "slide")
    assert [level.shape_yx for level in levels] == [(256, 256), (128, 128), (64, 64)]
    assert [level.downscale for level in levels] == [(1.0, 1.0), (2.0, 2.0), (4.0, 4.0)]
    np.testing.assert_array_equal(np.asarray(levels[1].data[:, :8, :8]), rgb[::2, ::2][:8, :8].transpose(2, 0, 1))
    assert get_transformation(image["scale0"]["image"], "s").scale.tolist() == [0.5, 0.5]


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hst.io.read_wsi(tmp_path / "missing.tif")
    tifffile.imwrite(tmp_path / "grey.tif", np.zeros((32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="an RGB slide"):
        hst.io.read_wsi(tmp_path / "grey.tif")
