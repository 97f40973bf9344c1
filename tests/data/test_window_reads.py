"""Batched window reads, identical to reading each window alone: cut from whole chunks kept in a cache (chunks up to
``BLOCK_MAX_BYTES``), else one dask slice per group of nearby windows."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from hyperst.data import _image
from hyperst.data._image import BlockCache, ImageLevel, _group_windows, read_windows


@pytest.fixture(scope="module")
def level():
    image = np.random.default_rng(0).integers(0, 256, (3, 300, 400), dtype=np.uint8)
    return ImageLevel(da.from_array(image, chunks=(3, 64, 64)), (1.0, 1.0))


@pytest.fixture
def grouped(monkeypatch):
    """Chunks too large to read whole: windows are sliced per group."""
    monkeypatch.setattr(_image, "BLOCK_MAX_BYTES", 0)


def _counting_compute(monkeypatch) -> list[int]:
    """Record the number of arrays of each ``dask.compute`` call."""
    calls = []
    original = dask.compute

    def counting(*args, **kwargs):
        calls.append(len(args))
        return original(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", counting)
    return calls


def _boxes() -> np.ndarray:
    """Dense neighbours, windows leaving every edge, one far from the rest and one entirely off the image."""
    dense = [(x, y, x + 30.5, y + 30.5) for y in (20.2, 45.7) for x in (10.0, 35.3, 60.9)]
    edges = [(-12.0, -8.5, 20.0, 23.5), (380.0, 280.0, 420.0, 320.0), (-5.0, 150.0, 25.0, 180.0)]
    return np.array(dense + edges + [(300.0, 10.0, 330.0, 40.0), (500.0, 500.0, 530.0, 530.0)])


@pytest.mark.parametrize("size", [16, None])
@pytest.mark.parametrize("whole_chunks", [True, False])
def test_batched_reads_equal_single_window_reads(level, size, whole_chunks, monkeypatch):
    if not whole_chunks:
        monkeypatch.setattr(_image, "BLOCK_MAX_BYTES", 0)
    assert _image._blockwise(level) is whole_chunks
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


def test_whole_chunk_reads_equal_grouped_slices(level, monkeypatch):
    boxes, cache = _boxes(), BlockCache()
    for paint in (False, True):
        cut = read_windows(level, boxes, 16, paint=paint, blocks=cache)
        with monkeypatch.context() as patch:
            patch.setattr(_image, "BLOCK_MAX_BYTES", 0)
            sliced = read_windows(level, boxes, 16, paint=paint)
        for got, expected in zip(cut, sliced, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_each_chunk_is_read_once_per_cache(level, monkeypatch):
    calls = _counting_compute(monkeypatch)
    cache = BlockCache()
    read_windows(level, _boxes(), 16, blocks=cache)
    touched = len(cache.blocks)
    assert calls == [touched]  # one dask computation per batch, one array per chunk the windows touch
    assert all(b.shape[1] in (64, 44) and b.shape[2] in (64, 16) for b in cache.blocks.values())  # whole chunks
    read_windows(level, _boxes()[:6], 16, blocks=cache)  # chunks read already: no dask computation
    assert calls == [touched]
    read_windows(level, np.array([[200.0, 200.0, 230.0, 230.0]]), 16, blocks=cache)  # a new chunk: read it only
    assert calls == [touched, 1]


def test_block_cache_keeps_to_its_bound(level):
    chunk = 3 * 64 * 64
    cache = BlockCache(max_bytes=2 * chunk)
    boxes = np.array([[x + 5.0, 5.0, x + 20.0, 20.0] for x in range(0, 384, 64)])  # six chunks, one window each
    expected = [read_windows(level, box[None], 8)[0] for box in boxes]
    got = read_windows(level, boxes, 8, blocks=cache)
    assert cache.nbytes == sum(b.nbytes for b in cache.blocks.values()) <= 2 * chunk
    assert len(cache.blocks) == 2  # the two read last
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cached_chunks_are_not_views_of_the_image():
    image = np.random.default_rng(2).integers(0, 256, (3, 64, 64), dtype=np.uint8)
    level = ImageLevel(da.from_array(image, chunks=(3, 64, 64)), (1.0, 1.0))
    cache = BlockCache()
    read_windows(level, np.array([[1.0, 1.0, 63.0, 63.0]]), None, blocks=cache)
    assert not any(np.shares_memory(block, image) for block in cache.blocks.values())


def test_nearby_windows_share_one_slice_and_far_ones_do_not(level, monkeypatch, grouped):
    boxes = _boxes()
    calls = _counting_compute(monkeypatch)
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
