"""Batched window reads: one dask slice per group of nearby windows, identical to reading each window alone."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from hyperst.data._image import ImageLevel, _group_windows, read_windows


@pytest.fixture(scope="module")
def level():
    image = np.random.default_rng(0).integers(0, 256, (3, 300, 400), dtype=np.uint8)
    return ImageLevel(da.from_array(image, chunks=(3, 64, 64)), (1.0, 1.0))


def _boxes() -> np.ndarray:
    """Dense neighbours, windows leaving every edge, one far from the rest and one entirely off the image."""
    dense = [(x, y, x + 30.5, y + 30.5) for y in (20.2, 45.7) for x in (10.0, 35.3, 60.9)]
    edges = [(-12.0, -8.5, 20.0, 23.5), (380.0, 280.0, 420.0, 320.0), (-5.0, 150.0, 25.0, 180.0)]
    return np.array(dense + edges + [(300.0, 10.0, 330.0, 40.0), (500.0, 500.0, 530.0, 530.0)])


@pytest.mark.parametrize("size", [16, None])
def test_batched_reads_equal_single_window_reads(level, size):
    boxes = _boxes()
    batched = read_windows(level, boxes, size, fill=7)
    single = [read_windows(level, box[None], size, fill=7)[0] for box in boxes]
    assert len(batched) == len(boxes)
    for got, expected in zip(batched, single, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert (batched[-1] == 7).all()  # off the image: all padding


def test_raw_windows_hold_the_image_pixels(level):
    image = level.data.compute()
    window = read_windows(level, np.array([[100.0, 50.0, 120.0, 80.0]]), None)[0]
    np.testing.assert_array_equal(window, image[:, 49:81, 99:121])  # one pixel margin on each side
    assert window.flags["C_CONTIGUOUS"] and not np.shares_memory(window, image)


def test_nearby_windows_share_one_slice_and_far_ones_do_not(level, monkeypatch):
    boxes = _boxes()
    calls = []
    original = dask.compute

    def counting(*args, **kwargs):
        calls.append(len(args))
        return original(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", counting)
    read_windows(level, boxes, 16)
    assert len(calls) == 1  # one dask computation per batch
    # the six dense windows are read as one slice; the far window is not merged into it; the off-image one is skipped
    assert 2 <= calls[0] <= len(boxes) - 6


def test_groups_stay_within_the_area_bound():
    rng = np.random.default_rng(1)
    corners = rng.integers(0, 5000, (200, 2))
    windows = [(x, y, x + 40, y + 40) for x, y in corners] + [(5, 5, 5, 60)]  # the last one is empty
    groups = _group_windows(windows, overhead=4.0)
    members = sorted(i for _, group in groups for i in group)
    assert members == list(range(200))  # every non-empty window once, the empty one skipped
    for (x0, y0, x1, y1), group in groups:
        assert (x1 - x0) * (y1 - y0) <= 4.0 * 40 * 40 * len(group)
        for i in group:
            wx0, wy0, wx1, wy1 = windows[i]
            assert x0 <= wx0 and y0 <= wy0 and wx1 <= x1 and wy1 <= y1
    dense = [(x, 0, x + 40, 40) for x in range(0, 2000, 30)]  # overlapping neighbours: one group
    assert len(_group_windows(dense)) == 1
