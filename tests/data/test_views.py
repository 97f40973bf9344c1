"""Augmented crop views: deterministic per spot, each part doing what it says, stored apart from the plain crops."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hyperst.data import CropView, crop_views, extract_crops, prepare_spots, stored_features


def _spots(toy_sdata, view=None):
    return dataclasses.replace(prepare_spots(toy_sdata, background="white"), view=view)


def test_a_view_is_the_same_at_every_read_and_differs_between_views(toy_sdata):
    first, second = crop_views(2)
    a = extract_crops(_spots(toy_sdata, first), kind="spot", size=32)
    again = extract_crops(
        _spots(toy_sdata, first), np.arange(toy_sdata.tables["table"].n_obs)[::-1], kind="spot", size=32
    )
    np.testing.assert_array_equal(a, again[::-1])  # per spot, not per batch or order
    b = extract_crops(_spots(toy_sdata, second), kind="spot", size=32)
    plain = extract_crops(_spots(toy_sdata), kind="spot", size=32)
    assert not np.array_equal(a, b) and not np.array_equal(a, plain)


def test_each_part_of_a_view(toy_sdata):
    plain = extract_crops(_spots(toy_sdata), kind="spot", size=32).astype(float)
    # an edge in every crop, nothing else: a part of each crop turns white (the default), the rest is untouched
    edge = CropView(index=1, max_pixel_um=0.0, stain=0.0, edge=1.0)
    cut = extract_crops(_spots(toy_sdata, edge), kind="spot", size=32).astype(float)
    changed = (cut != plain).any(axis=1)
    assert all((crop[:, where] == 255).all() for crop, where in zip(cut, changed, strict=True))
    share = changed.reshape(len(cut), -1).mean(axis=1)
    assert share.max() > 0.2 and share.min() >= 0
    # the same edges in the crop's own glass colour (the out-of-distribution reference's views)
    glass = dataclasses.replace(edge, edge_colour="glass")
    cut = extract_crops(_spots(toy_sdata, glass), kind="spot", size=32).astype(float)
    changed = (cut != plain).any(axis=1)
    painted = [crop[:, where] for crop, where in zip(cut, changed, strict=True) if where.any()]
    assert all((p == p[:, :1]).all() and p.min() >= 200 for p in painted)  # one glass-like colour per crop
    assert any((p < 255).any() for p in painted)  # not white: the toy's glass is about 244
    with pytest.raises(ValueError, match="`edge_colour` must be one of"):
        CropView(index=1, edge_colour="black")
    # a coarser scan only: fine detail (neighbouring pixel differences) shrinks
    coarse = CropView(index=1, max_pixel_um=20.0, stain=0.0, edge=0.0)
    blurred = extract_crops(_spots(toy_sdata, coarse), kind="spot", size=32).astype(float)
    assert np.abs(np.diff(blurred, axis=-1)).mean() < 0.8 * np.abs(np.diff(plain, axis=-1)).mean()
    # a stain shift only: colours move, the layout stays
    stain = CropView(index=1, max_pixel_um=0.0, stain=0.3, edge=0.0)
    shifted = extract_crops(_spots(toy_sdata, stain), kind="spot", size=32).astype(float)
    assert np.abs(shifted - plain).mean() > 2
    assert np.corrcoef(shifted[:, 0].ravel(), plain[:, 0].ravel())[0, 1] > 0.8


def test_the_feature_store_keeps_views_apart(toy_sdata):
    class Mean:
        name, input_size = "mean", 16

        def config(self):
            return {}

    def compute(spots):
        return lambda: tuple(extract_crops(spots, kind=k, size=16).mean(axis=(2, 3)) for k in ("spot", "niche"))

    plain, viewed = _spots(toy_sdata), _spots(toy_sdata, crop_views(1)[0])
    a = stored_features(plain, Mean(), compute(plain))[0]
    b = stored_features(viewed, Mean(), compute(viewed))[0]
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(stored_features(viewed, Mean(), lambda: 1 / 0)[0], b)  # read back, not recomputed
    glass = _spots(toy_sdata, crop_views(1, edge_colour="glass")[0])  # same draws, edges in the glass colour
    c = stored_features(glass, Mean(), compute(glass))[1]  # niche crops: the toy's glass shows in the neighbourhood
    assert not np.allclose(stored_features(viewed, Mean(), lambda: 1 / 0)[1], c)  # both kept, apart
    np.testing.assert_array_equal(stored_features(glass, Mean(), lambda: 1 / 0)[1], c)


def test_the_dataset_draws_a_view_per_item(toy_sdata):
    import torch

    from hyperst.data import SpotDataset

    spots = _spots(toy_sdata)
    n = spots.n_spots
    plain = (np.zeros((n, 2), np.float32), np.zeros((n, 2), np.float32))
    views = [tuple(np.full((n, 2), k, np.float32) for _ in range(2)) for k in (1, 2)]
    dataset = SpotDataset(spots, features=plain, views=views)
    torch.manual_seed(0)
    seen = {float(dataset[i % n][0][0]) for i in range(60)}
    assert seen == {0.0, 1.0, 2.0}  # the crops themselves and both views
    assert {float(SpotDataset(spots, features=plain)[i][0][0]) for i in range(20)} == {0.0}
