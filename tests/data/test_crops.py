"""Crops: physical size and position, resampling, lazy reads, batch order."""

from __future__ import annotations

import numpy as np
import pytest

from hyperst.data import extract_crops, iter_crops, prepare_spots, tissue_fraction


@pytest.fixture(scope="module")
def gradient_spots(builders):
    """Square ST-like grid (200 µm spacing = 40 px at 5 µm/px) on an image whose pixels encode their position."""
    xy = builders["lattice"]("square", 5, 40.0, 260.0)
    sdata = builders["build_sdata"](builders["gradient_image"](640, 700), xy, radius=10.0)
    return prepare_spots(sdata, check_tissue=False)


def test_crop_window_matches_the_physical_size(gradient_spots):
    section = gradient_spots.sections[0]
    assert section.grid == "square" and section.microns_per_pixel == pytest.approx(5.0)
    assert section.crop_um("spot") == pytest.approx(112.0)  # max(100 µm spot, 112 µm)
    assert section.crop_um("niche") == pytest.approx(500.0)  # 2 x 200 µm + 100 µm: the 8-neighbour ring
    size = 50
    for kind in ("spot", "niche"):
        side = section.crop_px(kind)
        crops = extract_crops(gradient_spots, kind=kind, size=size).astype(float)
        x0 = section.centres_px[:, 0] - side / 2
        y0 = section.centres_px[:, 1] - side / 2
        # red = x / 4 and green = y / 4, sampled at output pixel centres: the crop spans exactly `side` pixels
        output_centres = (np.arange(size) + 0.5) / size * side
        expected_red = (x0[:, None] + output_centres[None]) / 4
        expected_green = (y0[:, None] + output_centres[None]) / 4
        np.testing.assert_allclose(crops[:, 0, size // 2, :], expected_red, atol=1.0)
        np.testing.assert_allclose(crops[:, 1, :, size // 2], expected_green, atol=1.0)


def test_crops_are_uint8_chw_and_independent_of_batching(toy_spots):
    rows = np.array([5, 0, 17, 140, 3])
    one = extract_crops(toy_spots, rows, kind="niche", size=24, batch_size=1)
    many = extract_crops(toy_spots, rows, kind="niche", size=24, batch_size=64)
    assert one.shape == (5, 3, 24, 24) and one.dtype == np.uint8
    np.testing.assert_array_equal(one, many)
    target = np.zeros((5, 3, 24, 24), dtype=np.uint8)
    assert extract_crops(toy_spots, rows, kind="niche", size=24, out=target) is target
    np.testing.assert_array_equal(target, one)
    with pytest.raises(ValueError, match="`out` has shape"):
        extract_crops(toy_spots, rows, kind="niche", size=24, out=np.zeros((4, 3, 24, 24), dtype=np.uint8))
    with pytest.raises(ValueError, match="kind"):
        extract_crops(toy_spots, rows, kind="cell", size=24)
    with pytest.raises(ValueError, match="size"):
        extract_crops(toy_spots, rows, kind="spot", size=0)


def test_spot_and_niche_batches_come_in_the_same_order(toy_spots):
    spot = [positions for positions, _ in iter_crops(toy_spots, kind="spot", size=8, batch_size=50)]
    niche = [positions for positions, _ in iter_crops(toy_spots, kind="niche", size=8, batch_size=50)]
    assert all(np.array_equal(a, b) for a, b in zip(spot, niche, strict=True))
    assert sorted(np.concatenate(spot).tolist()) == list(range(toy_spots.n_spots))


def test_toy_crops_land_on_tissue(toy_spots):
    crops = extract_crops(toy_spots, np.arange(0, toy_spots.n_spots, 10), kind="spot", size=16)
    assert tissue_fraction(crops).min() > 0.5


def test_reads_are_lazy(builders):
    """Cropping a few spots touches only the chunks under them, never the whole image."""
    import dask.array as da
    from spatialdata.models import Image2DModel

    computed = []

    def block(block_info=None):
        location = block_info[None]["array-location"]
        computed.append(location)
        shape = tuple(stop - start for start, stop in location)
        return np.full(shape, 120, dtype=np.uint8)

    lazy = da.map_blocks(block, dtype=np.uint8, chunks=((3,), (256,) * 16, (256,) * 16))  # 4096 x 4096, 256 chunks
    xy = builders["lattice"]("hexagonal", 4, 50.0, 2000.0)
    sdata = builders["build_sdata"](np.zeros((3, 8, 8), dtype=np.uint8), xy)
    sdata.images["image"] = Image2DModel.parse(lazy, dims=("c", "y", "x"))
    spots = prepare_spots(sdata, check_tissue=False)
    computed.clear()
    crops = extract_crops(spots, kind="niche", size=16)
    assert (crops == 120).all()
    assert 0 < len(computed) <= 8  # of 256 chunks
