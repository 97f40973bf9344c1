"""Crops read (and squidpy features computed) by worker processes equal those of the main process, batch for batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hyperst as hst
from hyperst.data import crop_batches, encode_crops, extract_crops, iter_crops, prepare_spots
from hyperst.nn.encoders import build_encoder


@pytest.fixture(scope="module")
def spots(toy_sdata):
    return prepare_spots(toy_sdata)


def test_worker_batches_equal_serial_batches_in_order(spots):
    indices = np.random.default_rng(0).permutation(spots.n_spots)[:150]  # a subset, out of order, both sections
    serial = list(crop_batches(spots, indices, size=24, batch_size=16, n_jobs=1))
    parallel = list(crop_batches(spots, indices, size=24, batch_size=16, n_jobs=2))
    assert len(serial) == len(parallel) > 2
    for (positions, crops), (positions_2, crops_2) in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(positions, positions_2)
        assert len(crops) == len(crops_2) == 2 and all(c.dtype == np.uint8 for c in crops_2)
        for kind, kind_2 in zip(crops, crops_2, strict=True):
            np.testing.assert_array_equal(kind, kind_2)
    # the same batches, in the same order, as one stream per kind
    niche = list(iter_crops(spots, indices, kind="niche", size=24, batch_size=16))
    for (positions, crops), (positions_2, niche_crops) in zip(parallel, niche, strict=True):
        np.testing.assert_array_equal(positions, positions_2)
        np.testing.assert_array_equal(crops[1], niche_crops)
    np.testing.assert_array_equal(
        extract_crops(spots, indices, kind="spot", size=24, n_jobs=2),
        extract_crops(spots, indices, kind="spot", size=24),
    )


def test_encoding_with_workers_equals_one_process(spots):
    squidpy = build_encoder("squidpy", input_size=32)  # numpy features: computed in the workers
    serial = encode_crops(spots, squidpy, size=32, batch_size=40, n_jobs=1)
    parallel = encode_crops(spots, squidpy, size=32, batch_size=40, n_jobs=2)
    for one, two in zip(serial, parallel, strict=True):
        assert one.shape == (spots.n_spots, squidpy.out_dim) and np.isfinite(one).all()
        np.testing.assert_array_equal(one, two)
    cnn = build_encoder("cnn", input_size=32, width=8, n_blocks=3)  # torch: encoded in this process
    for one, two in zip(encode_crops(spots, cnn, size=32), encode_crops(spots, cnn, size=32, n_jobs=2), strict=True):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("n_jobs", [0, -1, 1.5, True, "2"])
def test_bad_n_jobs_is_a_clear_error_that_changes_nothing(toy_sdata, spots, n_jobs):
    with pytest.raises(ValueError, match="`n_jobs` must be a positive number of processes"):
        crop_batches(spots, size=16, n_jobs=n_jobs)
    with pytest.raises(ValueError, match="`n_jobs`"):
        hst.tl.fit(toy_sdata, n_jobs=n_jobs, max_epochs=1)
    tables = set(toy_sdata.tables)
    with pytest.raises(ValueError, match="`n_jobs`"):
        hst.tl.predict(toy_sdata, object(), n_jobs=n_jobs)
    assert set(toy_sdata.tables) == tables


def test_squidpy_features_in_workers_follow_the_encoder(spots):
    """Workers compute exactly what the encoder's forward computes on the same crops."""
    encoder = build_encoder("squidpy", input_size=16, histogram_bins=4)
    features, _ = encode_crops(spots, encoder, size=16, n_jobs=2)
    crops = extract_crops(spots, kind="spot", size=16)
    direct = encoder(torch.from_numpy(crops).float() / 255).numpy()
    np.testing.assert_array_equal(features, direct)
