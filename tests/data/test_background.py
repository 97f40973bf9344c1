"""Crop background: glass, a masked export's black and padding read the same when ``background="white"``."""

from __future__ import annotations

import numpy as np
import pytest
import spatialdata

from hyperst.data import background_mask, extract_crops, paint_background, prepare_spots


def _pixels(*rgb: tuple[int, int, int]) -> np.ndarray:
    """``(1, 3, 1, n)`` uint8 crop of the given pixels."""
    return np.array(rgb, dtype=np.uint8).T[None, :, None, :]


def test_glass_and_black_are_background_stained_tissue_is_not():
    glass, tinted_glass, black, jpeg_black = (242, 240, 244), (236, 230, 240), (0, 0, 0), (12, 9, 14)
    eosin, pale_eosin, haematoxylin, dense_nucleus = (230, 160, 200), (238, 200, 225), (90, 70, 150), (45, 25, 70)
    mask = background_mask(
        _pixels(glass, tinted_glass, black, jpeg_black, eosin, pale_eosin, haematoxylin, dense_nucleus)
    )
    assert mask[0, 0].tolist() == [True, True, True, True, False, False, False, False]


def test_paint_background_sets_background_to_white_and_keeps_tissue():
    crops = _pixels((0, 0, 0), (230, 160, 200), (240, 240, 240))
    painted = paint_background(crops)
    assert painted[0, :, 0, 0].tolist() == [255, 255, 255]
    assert painted[0, :, 0, 1].tolist() == [230, 160, 200]
    assert painted[0, :, 0, 2].tolist() == [255, 255, 255]
    assert crops[0, :, 0, 0].tolist() == [0, 0, 0]  # the input is not modified


def _blackened(sdata):
    """A copy whose images have every background pixel black, as a tissue-masked export."""
    import dask.array as da

    copy = spatialdata.deepcopy(sdata)
    for key, image in copy.images.items():
        pixels = np.asarray(image.data.compute())
        pixels = np.where(background_mask(pixels[None])[0][None], 0, pixels).astype(np.uint8)
        copy.images[key] = image.copy(data=da.from_array(pixels, chunks=image.data.chunksize))
    return copy


def test_white_background_crops_of_a_black_export_equal_the_white_ones(toy_sdata):
    black = _blackened(toy_sdata)
    for kind in ("spot", "niche"):
        white_crops = extract_crops(prepare_spots(toy_sdata, background="white"), kind=kind, size=32)
        black_crops = extract_crops(prepare_spots(black, background="white"), kind=kind, size=32)
        np.testing.assert_array_equal(white_crops, black_crops)
    # as they are, the two exports differ: this is what the painting removes
    kept = extract_crops(prepare_spots(black, background="keep"), kind="niche", size=32)
    assert np.abs(kept.astype(int) - white_crops.astype(int)).mean() > 5


def test_background_option_is_checked(toy_sdata):
    with pytest.raises(ValueError, match="`background` must be one of"):
        prepare_spots(toy_sdata, background="black")
